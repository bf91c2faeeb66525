//! Family sources: metrics that write one family from their own state on every
//! scrape ([`FamilySource`], registered with [`Registry::register_family`]), and
//! with the feature `exporter`, these types for exporters:
//!
//! - [`StateSet`]: one 0/1 series per state (OpenMetrics `stateset`, a gauge in
//!   text 0.0.4);
//! - [`Info`]: constant key/value data (`name_info{...} 1`);
//! - [`MirroredCounter`]: a counter whose value is read from another system, with
//!   resets detected and `_created` moved;
//! - [`SyncedGaugeFamily`]: a labelled gauge family whose series follow the source,
//!   so a series that disappears upstream disappears here.
//!
//! Each is a cheap-to-clone handle: keep one to update, register another.
//!
//! ```
//! # mod promhttp { pub use promhttp_core::*; }
//! use promhttp::source::{StateSet, SyncedGaugeFamily};
//! use promhttp::{Format, Registry};
//!
//! let registry = Registry::new();
//! let health = StateSet::new(["healthy", "unhealthy"]);
//! registry.register_family("app_health", "Health reported by the app.", health.clone())?;
//! health.set("unhealthy")?;
//!
//! let pods = SyncedGaugeFamily::new(["pod"])?;
//! registry.register_family("pod_ready", "Whether each pod is ready.", pods.clone())?;
//! pods.replace([(["web-1"], 1.0), (["web-2"], 0.0)])?;
//! pods.replace([(["web-2"], 1.0)])?; // web-1 is gone, and so is its series
//!
//! let text = registry.encode(Format::OpenMetrics)?;
//! assert!(text.contains("# TYPE app_health stateset\n"));
//! assert!(text.contains("app_health{app_health=\"healthy\"} 0\n"));
//! assert!(text.contains("app_health{app_health=\"unhealthy\"} 1\n"));
//! assert!(text.contains("pod_ready{pod=\"web-2\"} 1\n"));
//! assert!(!text.contains("web-1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use crate::encode::{Descriptor, Encoder};
#[cfg(feature = "parse")]
use crate::family::MetricFamily;
use crate::family::MetricType;
use crate::names;
use crate::registry::{CollectorHandle, Registry, RegistryError, Source};

#[cfg(feature = "exporter")]
mod kinds;
#[cfg(feature = "exporter")]
pub use kinds::{
    Info, LabelCountError, LabelError, MirrorError, Mirrored, MirroredCounter, StateSet,
    SyncedGaugeFamily, UnknownState,
};

/// A metric that writes one family from its own state at scrape time; implemented
/// by the types of this module and by [`DurationHistogram`](crate::DurationHistogram),
/// and open to yours.
///
/// Implement [`encode`](FamilySource::encode) to write points straight into the
/// encoder, or, with the feature `parse`, `write` to add samples to an
/// [owned family](crate::family::MetricFamily), which is checked with
/// `MetricFamily::validate` on every scrape and left out with a warning when it
/// breaks a rule. Without `parse` the validator is not compiled, so `encode` is
/// the method to implement; a build that enables the feature keeps compiling
/// every implementation written without it.
pub trait FamilySource: Send + Sync + 'static {
    /// The family's type.
    fn metric_type(&self) -> MetricType;

    /// Adds the current samples to `family` (whose name, type and help are set).
    /// Unused when [`encode`](FamilySource::encode) is implemented.
    #[cfg(feature = "parse")]
    fn write(&self, family: &mut MetricFamily) {
        let _ = family;
    }

    /// Writes the family: opens it with `descriptor` and writes its points. The
    /// default builds an owned family with [`write`](FamilySource::write).
    #[cfg(feature = "parse")]
    fn encode(&self, descriptor: &Descriptor<'_>, out: &mut Encoder) {
        let mut family = MetricFamily::new(
            descriptor.name(),
            descriptor.metric_type(),
            descriptor.help(),
        );
        self.write(&mut family);
        match family.validate() {
            Ok(()) => out.write_family(&family),
            Err(err) => {
                tracing::warn!(%err, "promhttp: a family source wrote an invalid family; it is left out of this scrape");
            }
        }
    }

    /// Writes the family: opens it with `descriptor` and writes its points.
    #[cfg(not(feature = "parse"))]
    fn encode(&self, descriptor: &Descriptor<'_>, out: &mut Encoder);
}

/// A registered family source: its name and help, written on every scrape.
struct Registered<S> {
    name: String,
    help: String,
    source: S,
}

impl<S: FamilySource> Source for Registered<S> {
    fn encode(&self, out: &mut Encoder) {
        let descriptor = Descriptor::new(&self.name, self.source.metric_type(), &self.help);
        self.source.encode(&descriptor, out);
    }
}

impl Registry {
    /// Registers `source` as the family `name`.
    ///
    /// Its samples are written from memory on every scrape (no thread, no timeout).
    ///
    /// # Errors
    /// As [`Registry::register`]: an invalid name, or a name (or a sample name its
    /// type implies) already taken.
    pub fn register_family(
        &self,
        name: &str,
        help: &str,
        source: impl FamilySource,
    ) -> Result<CollectorHandle, RegistryError> {
        // A counter given as `jobs_total` is the family `jobs`.
        let name = if source.metric_type() == crate::family::MetricType::Counter {
            names::without_total(name)
        } else {
            name
        };
        names::check_metric_name(name).map_err(|reason| RegistryError::InvalidName {
            name: name.to_owned(),
            reason,
        })?;
        let reserved = source.metric_type().sample_names(name);
        let id = self.add_source(
            reserved,
            Arc::new(Registered {
                name: name.to_owned(),
                help: help.to_owned(),
                source,
            }),
        )?;
        Ok(CollectorHandle::new(self.clone(), id))
    }
}
