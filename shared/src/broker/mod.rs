//! RabbitMQ: topology, envelope, publishing and consuming.
