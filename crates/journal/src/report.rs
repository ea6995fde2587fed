//! Reports: distance travelled, and a chart model any renderer can draw.

use serde::Serialize;

use crate::instrument::{Instrument, Stage};
use crate::journal::Journal;
use crate::model::{Date, Perspective};
use crate::view::JournalView;

/// How far one perspective moved on one area, first reading to latest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Distance {
    /// Area id.
    pub area: String,
    /// Area name.
    pub name: String,
    /// Whose view.
    pub perspective: Perspective,
    /// Date and score of the first reading with a score.
    pub first: (Option<Date>, u8),
    /// Date and score of the latest reading with a score.
    pub latest: (Option<Date>, u8),
    /// `latest - first`.
    pub change: i16,
}

/// One polygon of the star chart: one perspective of one reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChartSeries {
    /// The reading.
    pub reading: String,
    /// Its date.
    pub date: Option<Date>,
    /// Whose view.
    pub perspective: Perspective,
    /// One value per area, in the chart's area order; `None` where unscored or in conflict.
    pub values: Vec<Option<u8>>,
}

/// Everything a star chart needs, nothing it must look up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChartModel {
    /// Instrument name.
    pub instrument: String,
    /// Licence text, to print with the chart.
    pub attribution: String,
    /// Lowest step.
    pub min: u8,
    /// Highest step.
    pub max: u8,
    /// Stage bands.
    pub stages: Vec<Stage>,
    /// `(id, name)` per spoke, in order.
    pub areas: Vec<(String, String)>,
    /// Polygons, oldest reading first.
    pub series: Vec<ChartSeries>,
}

/// What the read screens need, without the CRDT: the view, and the
/// instruments it was read against. Plain data: it can be kept beside the
/// document (tagged with what it was read from) and read back without
/// loading automerge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReadModel {
    /// The journal as plain, validated data.
    pub view: JournalView,
    /// The instruments recorded in the journal, by key
    /// (`id@version#sha256`).
    pub instruments: std::collections::BTreeMap<String, Instrument>,
}

impl ReadModel {
    /// The instrument recorded under `key`.
    pub fn instrument(&self, key: &str) -> Option<&Instrument> {
        self.instruments.get(key)
    }

    /// The latest reading's instrument.
    fn latest_instrument(&self, view: &JournalView) -> Option<&Instrument> {
        self.instrument(&view.latest_reading()?.instrument)
    }

    /// Distance travelled per area and perspective, over readings on the
    /// latest reading's instrument.
    pub fn distance_travelled(&self) -> Vec<Distance> {
        self.latest_instrument(&self.view)
            .map_or_else(Vec::new, |i| distance(&self.view, i))
    }

    /// The star chart of `perspectives` over every reading of `view` (this
    /// model's view, or part of it) on the latest reading's instrument.
    pub fn chart(&self, view: &JournalView, perspectives: &[Perspective]) -> Option<ChartModel> {
        chart(view, self.latest_instrument(view)?, perspectives)
    }
}

impl Journal {
    /// The view and the instruments, for screens that only read.
    pub fn read_model(&self) -> ReadModel {
        ReadModel {
            view: self.view(),
            instruments: self.instruments().into_iter().collect(),
        }
    }

    /// The instrument recorded under `key` (`id@version#sha256`).
    pub fn instrument(&self, key: &str) -> Option<Instrument> {
        self.instruments().remove(key)
    }

    /// Distance travelled per area and perspective, over readings on the latest reading's instrument.
    pub fn distance_travelled(&self, view: &JournalView) -> Vec<Distance> {
        view.latest_reading()
            .and_then(|r| self.instrument(&r.instrument))
            .map_or_else(Vec::new, |i| distance(view, &i))
    }

    /// The star chart of `perspectives` over every reading on the latest reading's instrument.
    pub fn chart(&self, view: &JournalView, perspectives: &[Perspective]) -> Option<ChartModel> {
        let instrument = self.instrument(&view.latest_reading()?.instrument)?;
        chart(view, &instrument, perspectives)
    }
}

/// Whether `reading` was made on (a version of) `instrument`.
fn same_instrument(reading: &crate::view::ReadingView, instrument: &Instrument) -> bool {
    reading.instrument.split('@').next() == Some(instrument.id.as_str())
}

fn distance(view: &JournalView, instrument: &Instrument) -> Vec<Distance> {
    let readings: Vec<_> = view
        .readings
        .iter()
        .filter(|r| same_instrument(r, instrument))
        .collect();
    let mut out = Vec::new();
    for area in &instrument.areas {
        for &perspective in Perspective::ALL {
            let scored: Vec<_> = readings
                .iter()
                .filter_map(|r| Some((r.sort_date(), r.area(&area.id)?.score(perspective).value?)))
                .collect();
            if let (Some(first), Some(latest)) = (scored.first(), scored.last()) {
                out.push(Distance {
                    area: area.id.clone(),
                    name: area.name.clone(),
                    perspective,
                    first: *first,
                    latest: *latest,
                    change: i16::from(latest.1) - i16::from(first.1),
                });
            }
        }
    }
    out
}

fn chart(
    view: &JournalView,
    instrument: &Instrument,
    perspectives: &[Perspective],
) -> Option<ChartModel> {
    let mut series = Vec::new();
    for reading in view
        .readings
        .iter()
        .filter(|r| same_instrument(r, instrument))
    {
        for &perspective in perspectives {
            let values: Vec<Option<u8>> = instrument
                .areas
                .iter()
                .map(|a| reading.area(&a.id).and_then(|v| v.score(perspective).value))
                .collect();
            if values.iter().any(Option::is_some) {
                series.push(ChartSeries {
                    reading: reading.id.to_string(),
                    date: reading.sort_date(),
                    perspective,
                    values,
                });
            }
        }
    }
    Some(ChartModel {
        instrument: instrument.name.clone(),
        attribution: instrument.attribution.clone(),
        min: instrument.scale.min,
        max: instrument.scale.max,
        stages: instrument.stages.clone(),
        areas: instrument
            .areas
            .iter()
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect(),
        series,
    })
}
