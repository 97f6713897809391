//! The configured provider adapters, by name. Ingest asks it whether a command's provider exists;
//! the dispatcher asks it for the adapter of an order's provider.

use super::adapter::ProviderAdapter;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct ProviderRegistry {
    adapters: BTreeMap<&'static str, Arc<dyn ProviderAdapter>>,
}

impl ProviderRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `adapter` under its own name, replacing one of the same name.
    pub fn with(mut self, adapter: Arc<dyn ProviderAdapter>) -> Self {
        self.adapters.insert(adapter.name(), adapter);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn ProviderAdapter>> {
        self.adapters.get(name)
    }

    /// The configured names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.adapters.keys().copied().collect()
    }
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRegistry").field("providers", &self.names()).finish()
    }
}
