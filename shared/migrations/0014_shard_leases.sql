-- Which provider-dispatcher instance consumes which order shard (ARCHITECTURE.md: "work for one
-- order is serialised; the service scales out and fails over").
--
-- Every shard queue has single active consumer, so two instances never consume one shard at
-- once; these tables spread the shards over the instances. Each instance beats its heart in
-- dispatcher_members every second, and holds the leases of its fair share of the shards
-- (ceil(shards / live instances)), renewing them. An instance with more than its share stops
-- consuming a shard gracefully (its work in flight finished and acknowledged, the rest returned
-- to the queue in order) before it gives the lease up; only then does another instance take the
-- lease and subscribe. A lease not renewed (the instance died) expires and is taken over.
CREATE TABLE dispatcher_members (
    id      uuid        NOT NULL,
    seen_at timestamptz NOT NULL,
    CONSTRAINT dispatcher_members_pkey PRIMARY KEY (id)
);

CREATE TABLE shard_leases (
    shard      integer     NOT NULL,
    owner      uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT shard_leases_pkey PRIMARY KEY (shard),
    CONSTRAINT shard_leases_shard_non_negative CHECK (shard >= 0)
);
