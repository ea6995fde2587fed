//! Random runs: many seeds of faults, all converging once the network heals.

use crate::world::{Malice, World};

/// One random scenario. Panics (with the seed) if an invariant breaks.
pub fn run_seed(seed: u64) {
    // The cast and the document are set up once; seeds vary the network,
    // the faults and who writes what.
    static BASE: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    let mut w = BASE
        .get_or_init(|| {
            let mut w = World::new(0, &["client", "worker", "carer"]);
            w.setup();
            w
        })
        .clone();
    w.rng = starling_protocol::testing::SeededRng::new(seed);
    // One seed in four has a relay that misbehaves towards one member.
    let malice = match seed % 8 {
        3 => Malice::Replay,
        5 => Malice::Corrupt,
        7 => Malice::Withhold,
        _ => Malice::None,
    };
    w.malice = malice;
    w.victim = w.rng.below(3) as usize;
    w.p_disconnect = 0.01;
    w.max_latency = 1 + w.rng.below(80);
    let steps = 5 + w.rng.below(6);
    for step in 0..steps {
        match w.rng.below(20) {
            0..=11 => {
                let p = w.rng.below(2) as usize;
                let item = format!("s{seed}-{step}-{p}");
                w.write(p, &[item]);
            }
            12..=14 => {
                let p = w.rng.below(3) as usize;
                let online = !w.peers[p].online;
                w.set_online(p, online);
            }
            15 | 16 => w.snapshot(0),
            17 => w.restart_relay(),
            _ => {}
        }
        let ms = w.rng.below(200);
        w.run_for(ms);
    }
    // Heal.
    w.p_disconnect = 0.0;
    for p in 0..3 {
        w.set_online(p, true);
    }
    w.run_until_quiet();
    // Every payload applied anywhere was checked against what its author
    // sealed (World::on_event), so nothing tampered was applied.
    if matches!(malice, Malice::Corrupt | Malice::Withhold) {
        // The victim may miss what was corrupted or withheld, never more.
        for p in 0..3 {
            assert!(w.peers[p].set.is_subset(&w.written), "seed {seed}");
            if p != w.victim {
                assert_eq!(
                    w.peers[p].set, w.written,
                    "seed {seed}: {} differs",
                    w.peers[p].name
                );
                assert!(w.tampering(p).is_empty(), "seed {seed}");
            }
        }
        return;
    }
    w.assert_converged(&[0, 1, 2]);
    if std::env::var_os("SIM_COUNT").is_some() {
        eprintln!("seed {seed}: {:?}", w.counts);
    }
    for p in 0..3 {
        assert!(
            w.tampering(p).is_empty(),
            "seed {seed}: honest run reported tampering"
        );
    }
}

fn run_range(r: std::ops::Range<u64>) {
    for seed in r {
        let res = std::panic::catch_unwind(|| run_seed(seed));
        assert!(res.is_ok(), "seed {seed} failed");
    }
}

#[test]
fn seeds_0_to_250() {
    run_range(0..250);
}

#[test]
fn seeds_250_to_500() {
    run_range(250..500);
}

#[test]
fn seeds_500_to_750() {
    run_range(500..750);
}

#[test]
fn seeds_750_to_1000() {
    run_range(750..1000);
}

#[test]
#[ignore = "slow (about 80 s): cargo test -p starling-protocol --test sim -- --ignored seeds_many"]
fn seeds_many() {
    run_range(1000..20_000);
}
