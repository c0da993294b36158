//! Word count on ~1 GiB of generated text, three ways, on the same machine
//! in one run (interleaved when repeated), with wall time, CPU time and
//! peak RSS of each:
//!
//! - (a) `edp-mapreduce` (the local engine's MapReduce.Streaming runner),
//!   2 slots, with the awk mapper and reducer below;
//! - (b) `cat input | mapper | LC_ALL=C sort -S 2G | reducer` (the anchor of
//!   /work/shared/reference/wordcount-anchors.md);
//! - (c) PySpark `local[2]` word counts (RDD and DataFrame), when
//!   `target/venv-spark/bin/python` has pyspark (`scripts/setup-spark`).
//!
//! ```text
//! cargo build --release -p edp-engine-local --bin edp-mapreduce --example wordcount_bench
//! target/release/examples/wordcount_bench [--dir DIR] [--mib 1024] [--reps 1] [--reduces 2] [--no-pipeline] [--no-spark]
//! ```
//!
//! The input (8 files, Zipf-distributed words `w1`…`w200000`, 8–16 words
//! per line, fixed seed) is generated once into DIR/in (default
//! /tmp/edp-wc-bench) and reused. CPU is user+sys of the process tree from
//! wait4's rusage (the command and what it waited for),
//! cross-checked by sampling /proc every 200 ms (PySpark's daemon-forked
//! workers are only seen by sampling); peak RSS is both the largest single
//! process (rusage) and the sampled sum over the tree. The outputs are
//! checked to hold the same counts.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MAPPER: &str = r#"{for(i=1;i<=NF;i++) print $i "\t1"}"#;
const REDUCER: &str = r#"$1!=k{if(k!="")print k"\t"c;k=$1;c=0}{c+=$2}END{if(k!="")print k"\t"c}"#;
const VOCAB: usize = 200_000;
const FILES: usize = 8;

struct Args {
    dir: PathBuf,
    mib: u64,
    reps: usize,
    reduces: u32,
    pipeline: bool,
    spark: bool,
    combiner: bool,
}

fn args() -> Args {
    let mut a = Args {
        dir: PathBuf::from("/tmp/edp-wc-bench"),
        mib: 1024,
        reps: 1,
        reduces: 2,
        pipeline: true,
        spark: true,
        combiner: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => a.dir = PathBuf::from(value()),
            "--mib" => a.mib = value().parse().expect("--mib N"),
            "--reps" => a.reps = value().parse().expect("--reps N"),
            "--reduces" => a.reduces = value().parse().expect("--reduces N"),
            "--no-pipeline" => a.pipeline = false,
            "--no-spark" => a.spark = false,
            "--combiner" => a.combiner = true,
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// DIR/in: FILES files of mib/FILES MiB, each cut at the first line end past it.
fn generate(dir: &Path, mib: u64) -> PathBuf {
    let input = dir.join("in");
    let marker = dir.join(format!("in.{mib}MiB.done"));
    if marker.exists() {
        return input;
    }
    let _ = fs::remove_dir_all(&input);
    fs::create_dir_all(&input).expect("input dir");
    eprintln!("generating {mib} MiB of text into {} ...", input.display());
    let started = Instant::now();
    let cum: Vec<f64> = (1..=VOCAB)
        .scan(0.0, |acc, r| {
            *acc += 1.0 / r as f64;
            Some(*acc)
        })
        .collect();
    let total = *cum.last().expect("a vocabulary");
    let words: Vec<String> = (1..=VOCAB).map(|r| format!("w{r}")).collect();
    let mut rng = Rng(20261123);
    let per_file = (mib << 20) / FILES as u64;
    for f in 0..FILES {
        let mut out =
            BufWriter::with_capacity(1 << 20, fs::File::create(input.join(format!("part-{f:05}"))).expect("file"));
        let mut written = 0u64;
        let mut line = Vec::with_capacity(256);
        while written < per_file {
            line.clear();
            let n = 8 + (rng.next() % 9) as usize;
            for i in 0..n {
                let u = rng.unit() * total;
                let r = cum.partition_point(|&c| c < u).min(VOCAB - 1);
                if i > 0 {
                    line.push(b' ');
                }
                line.extend_from_slice(words[r].as_bytes());
            }
            line.push(b'\n');
            out.write_all(&line).expect("write");
            written += line.len() as u64;
        }
        out.flush().expect("flush");
    }
    fs::write(&marker, b"").expect("marker");
    eprintln!("generated in {:.1} s", started.elapsed().as_secs_f64());
    input
}

#[derive(Clone, Debug)]
struct Measure {
    wall: f64,
    cpu: f64,
    cpu_sampled: f64,
    max_rss_mib: f64,
    tree_rss_mib: f64,
}

/// Waits for `pid`; its exit status and rusage: CPU time (user+sys) and
/// peak RSS of it and the descendants it waited for. wait4 rather than
/// getrusage(RUSAGE_CHILDREN), whose peak is over every child this program
/// ever had, so one variant's figure would leak into the next.
fn wait_with_rusage(pid: u32) -> (bool, f64, i64) {
    // SAFETY: wait4 fills the status and the struct.
    unsafe {
        let mut status = 0;
        let mut u: libc::rusage = std::mem::zeroed();
        let waited = libc::wait4(pid as libc::pid_t, &mut status, 0, &mut u);
        assert_eq!(waited, pid as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        (ok, t(u.ru_utime) + t(u.ru_stime), u.ru_maxrss)
    }
}

/// (pid → (ppid, rss KiB, cpu ticks)) of every process.
fn processes() -> HashMap<u32, (u32, u64, u64)> {
    let page_kb = 4;
    let mut out = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if f.len() < 22 {
            continue;
        }
        let ppid = f[1].parse().unwrap_or(0);
        let ticks = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        let rss = f[21].parse::<u64>().unwrap_or(0) * page_kb;
        out.insert(pid, (ppid, rss, ticks));
    }
    out
}

/// Runs `argv`, sampling its process tree until it ends.
fn measure(argv: &[String], env: &[(&str, String)]) -> Measure {
    let started = Instant::now();
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", argv[0]));
    let root = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let hz = 100.0;
            let mut peak_tree = 0u64;
            let mut ticks: HashMap<u32, u64> = HashMap::new();
            while !done.load(Ordering::Relaxed) {
                let procs = processes();
                let mut stack = vec![root];
                let mut sum = 0;
                while let Some(p) = stack.pop() {
                    if let Some((_, rss, t)) = procs.get(&p) {
                        sum += rss;
                        let seen = ticks.entry(p).or_default();
                        *seen = (*seen).max(*t);
                    }
                    stack.extend(procs.iter().filter(|(_, v)| v.0 == p).map(|(k, _)| *k));
                }
                peak_tree = peak_tree.max(sum);
                std::thread::sleep(Duration::from_millis(200));
            }
            (peak_tree, ticks.values().sum::<u64>() as f64 / hz)
        })
    };
    let (ok, cpu, maxrss) = wait_with_rusage(root);
    let wall = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (peak_tree, cpu_sampled) = sampler.join().expect("sampler");
    assert!(ok, "{} failed", argv.join(" "));
    Measure { wall, cpu, cpu_sampled, max_rss_mib: maxrss as f64 / 1024.0, tree_rss_mib: peak_tree as f64 / 1024.0 }
}

/// word → count from part files (`word\tcount` lines, any order).
fn counts(dir: &Path) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .expect("output dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("part-")))
        .collect();
    paths.sort();
    for p in paths {
        for line in std::io::BufReader::new(fs::File::open(&p).expect("part")).lines() {
            let line = line.expect("line");
            let (w, c) = line.split_once('\t').unwrap_or_else(|| panic!("bad line {line:?} in {}", p.display()));
            *m.entry(w.to_owned()).or_insert(0) += c.trim().parse::<u64>().expect("a count");
        }
    }
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let a = args();
    fs::create_dir_all(&a.dir).expect("bench dir");
    let input = generate(&a.dir, a.mib);
    let in_bytes: u64 =
        fs::read_dir(&input).expect("input").flatten().map(|e| e.metadata().map_or(0, |m| m.len())).sum();
    let exe = std::env::current_exe().expect("exe");
    let runner = exe.parent().and_then(Path::parent).map(|p| p.join("edp-mapreduce")).expect("profile dir");
    assert!(
        runner.is_file(),
        "{} is missing: cargo build --release -p edp-engine-local --bin edp-mapreduce",
        runner.display()
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spark_python = root.join("target/venv-spark/bin/python");
    let spark_home = Command::new(&spark_python)
        .args(["-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if a.spark && spark_home.is_none() {
        println!("NOTE: no Spark venv ({} with pyspark): (c) skipped; run scripts/setup-spark", spark_python.display());
    }

    // (a)
    let job_dir = a.dir.join("job");
    let out_a = a.dir.join("out-a");
    let mut spec = serde_json::json!({
        "execution_id": "wordcount-bench",
        "job_dir": job_dir,
        "input": input,
        "output": out_a,
        "mapper": ["awk", MAPPER],
        "reducer": ["awk", "-F\t", REDUCER],
        "reduces": a.reduces,
        "slots": 2,
        "sort_mb": 100,
        "sort_factor": 64,
        "map_attempts": 4,
        "reduce_attempts": 4,
        "split_min": 1,
        "split_max": 32u64 << 20,
    });
    if a.combiner {
        spec["combiner"] = serde_json::json!(["awk", "-F\t", REDUCER]);
    }
    let spec_path = a.dir.join("mapreduce-spec.json");
    fs::write(&spec_path, serde_json::to_vec_pretty(&spec).expect("json")).expect("spec");
    let cmd_a = vec![runner.display().to_string(), spec_path.display().to_string()];
    let shown_a = format!(
        "edp-mapreduce spec.json (mapper `awk '{MAPPER}'`, reducer `awk -F'\\t' '{REDUCER}'`,{} reduces={}, slots=2, io.sort.mb=100)",
        if a.combiner { " combiner = reducer," } else { "" },
        a.reduces
    );

    // (b)
    let out_b = a.dir.join("out-b");
    let pipeline = format!(
        "cat {}/* | awk '{MAPPER}' | LC_ALL=C sort -S 2G | awk -F'\\t' '{REDUCER}' > {}/part-00000",
        input.display(),
        out_b.display()
    );
    let cmd_b = vec!["bash".to_owned(), "-c".to_owned(), pipeline.clone()];

    // (c)
    let rdd = a.dir.join("wc_rdd.py");
    fs::write(
        &rdd,
        "import sys\nfrom pyspark import SparkContext\nsc = SparkContext(appName='wc-rdd')\n\
         (sc.textFile(sys.argv[1]).flatMap(lambda l: l.split()).map(lambda w: (w, 1))\n\
          .reduceByKey(lambda x, y: x + y).map(lambda kv: '%s\\t%d' % kv).saveAsTextFile(sys.argv[2]))\n",
    )
    .expect("rdd script");
    let df = a.dir.join("wc_df.py");
    fs::write(
        &df,
        "import sys\nfrom pyspark.sql import SparkSession, functions as F\n\
         spark = SparkSession.builder.appName('wc-df').getOrCreate()\n\
         (spark.read.text(sys.argv[1]).select(F.explode(F.split('value', ' ')).alias('w')).where(\"w != ''\")\n\
          .groupBy('w').count().write.option('sep', '\\t').csv(sys.argv[2]))\n",
    )
    .expect("df script");
    let spark_cmd = |script: &Path, out: &Path| -> Vec<String> {
        let home = spark_home.clone().unwrap_or_default();
        vec![
            format!("{home}/bin/spark-submit"),
            "--master".into(),
            "local[2]".into(),
            "--driver-memory".into(),
            "4g".into(),
            script.display().to_string(),
            input.display().to_string(),
            out.display().to_string(),
        ]
    };
    let spark_env: Vec<(&str, String)> = match &spark_home {
        Some(home) => vec![
            ("SPARK_HOME", home.clone()),
            ("SPARK_LOCAL_IP", "127.0.0.1".into()),
            ("PYSPARK_PYTHON", spark_python.display().to_string()),
        ],
        None => vec![],
    };

    type Variant = (String, String, Vec<String>, Vec<(&'static str, String)>, PathBuf);
    let mut variants: Vec<Variant> = vec![("(a) edp-mapreduce, 2 slots".into(), shown_a, cmd_a, vec![], out_a.clone())];
    if a.pipeline {
        variants.push(("(b) sort pipeline".into(), pipeline, cmd_b, vec![], out_b.clone()));
    }
    if a.spark && spark_home.is_some() {
        let (out_r, out_d) = (a.dir.join("out-c-rdd"), a.dir.join("out-c-df"));
        let shown = |s: &Path, o: &Path| {
            format!(
                "SPARK_LOCAL_IP=127.0.0.1 spark-submit --master local[2] --driver-memory 4g {} in {}",
                s.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                o.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            )
        };
        variants.push((
            "(c) PySpark RDD, local[2]".into(),
            shown(&rdd, &out_r),
            spark_cmd(&rdd, &out_r),
            spark_env.clone(),
            out_r,
        ));
        variants.push((
            "(c) PySpark DataFrame, local[2]".into(),
            shown(&df, &out_d),
            spark_cmd(&df, &out_d),
            spark_env,
            out_d,
        ));
    }

    let mut results: Vec<Vec<Measure>> = vec![Vec::new(); variants.len()];
    let mut reference: Option<HashMap<String, u64>> = None;
    for rep in 1..=a.reps {
        for (i, (name, _, argv, env, out)) in variants.iter().enumerate() {
            let _ = fs::remove_dir_all(out);
            let _ = fs::remove_dir_all(&job_dir);
            fs::create_dir_all(&job_dir).expect("job dir");
            if i == 1 && a.pipeline {
                fs::create_dir_all(out).expect("out dir");
            }
            eprintln!("rep {rep}: {name} ...");
            let m = measure(argv, env);
            eprintln!(
                "rep {rep}: {name}: wall {:.1} s, cpu {:.1} s (sampled {:.1} s), max RSS {:.0} MiB, tree {:.0} MiB",
                m.wall, m.cpu, m.cpu_sampled, m.max_rss_mib, m.tree_rss_mib
            );
            let got = counts(out);
            match &reference {
                None => reference = Some(got),
                Some(r) => assert!(*r == got, "{name}: the counts differ from (a)'s"),
            }
            results[i].push(m);
        }
    }
    let reference = reference.expect("a run");
    let words: u64 = reference.values().sum();
    println!();
    println!(
        "Word count, {:.0} MiB input ({} words, {} distinct), {} rep(s), medians; machine: {} cores",
        in_bytes as f64 / 1048576.0,
        words,
        reference.len(),
        a.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| variant | wall s | CPU s (user+sys) | peak RSS MiB (largest process / tree) | MiB/s | speed vs (b) | command |"
    );
    println!("|---|---|---|---|---|---|---|");
    let base = if a.pipeline { Some(median(results[1].iter().map(|m| m.wall).collect())) } else { None };
    for ((name, shown, ..), ms) in variants.iter().zip(&results) {
        let wall = median(ms.iter().map(|m| m.wall).collect());
        let cpu = median(ms.iter().map(|m| m.cpu.max(m.cpu_sampled)).collect());
        let rss = ms.iter().map(|m| m.max_rss_mib).fold(0.0, f64::max);
        let tree = ms.iter().map(|m| m.tree_rss_mib).fold(0.0, f64::max);
        let walls: Vec<String> = ms.iter().map(|m| format!("{:.1}", m.wall)).collect();
        println!(
            "| {name} | {wall:.1} [{}] | {cpu:.1} | {rss:.0} / {tree:.0} | {:.1} | {} | `{}` |",
            walls.join(", "),
            in_bytes as f64 / 1048576.0 / wall,
            base.map_or("—".into(), |b| format!("{:.2}×", b / wall)),
            shown.replace('|', "\\|")
        );
    }
}
