//! Each job type launched through the API: the workflow.xml uploaded to
//! HDFS is valid for its action schema and carries the properties, paths
//! and arguments Sahara's rules give it; the job properties say where and
//! as whom; nothing is submitted by a dry run or a refused launch.

use edp_oozie_server::workflow::{self, ActionDef};
use edp_oozie_server::{JOB_TRACKER, NAME_NODE, Outcome};
use serde_json::{Value, json};

use crate::common::*;

struct Case {
    kind: &'static str,
    mains: Vec<(&'static str, &'static [u8])>,
    libs: Vec<(&'static str, &'static [u8])>,
    data_sources: bool,
    job_configs: Value,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            kind: "MapReduce",
            mains: vec![],
            libs: vec![("wordcount.jar", b"PK-jar")],
            data_sources: true,
            job_configs: json!({"configs": {"mapreduce.job.reduces": 2, "mapred.mapper.class": "org.W", "edp.java.java_opts": "-Xmx1g"}}),
        },
        Case {
            kind: "MapReduce.Streaming",
            mains: vec![],
            libs: vec![],
            data_sources: true,
            job_configs: json!({"configs": {"edp.streaming.mapper": "/bin/cat", "edp.streaming.reducer": "/usr/bin/wc -l"}}),
        },
        Case {
            kind: "Java",
            mains: vec![],
            libs: vec![("app.jar", b"PK-app")],
            data_sources: false,
            job_configs: json!({
                "configs": {"edp.java.main_class": "org.example.Main", "edp.java.java_opts": "-Xmx512m", "oozie.job.acl": "ops"},
                "args": ["first", "a b", "x<y && \"q\""]
            }),
        },
        Case {
            kind: "Pig",
            mains: vec![("wc.pig", b"A = LOAD '$INPUT'; STORE A INTO '$OUTPUT';")],
            libs: vec![("udf.jar", b"PK-udf")],
            data_sources: true,
            job_configs: json!({"params": {"LIMIT": 10}, "args": ["-verbose"], "configs": {"pig.tmpfilecompression": true}}),
        },
        Case {
            kind: "Hive",
            mains: vec![("q.sql", b"SELECT * FROM t;")],
            libs: vec![],
            data_sources: true,
            job_configs: json!({"params": {"DAY": "2020-01-10"}}),
        },
        Case {
            kind: "Shell",
            mains: vec![("run.sh", b"#!/bin/sh\necho \"$GREETING\" \"$@\"\n")],
            libs: vec![("data.txt", b"some data")],
            data_sources: false,
            job_configs: json!({"params": {"GREETING": "hello there"}, "args": ["one", "two"]}),
        },
        Case {
            kind: "Spark",
            mains: vec![("spark-app.jar", b"PK-spark")],
            libs: vec![("dep.jar", b"PK-dep")],
            data_sources: false,
            job_configs: json!({
                "configs": {"edp.java.main_class": "org.example.SparkPi", "spark.executor.memory": "2g"},
                "args": ["100"]
            }),
        },
    ]
}

fn property(action: &ActionDef, name: &str) -> Option<String> {
    action.element.property(name)
}

/// What each type's action must hold, beyond being schema-valid.
fn check_action(kind: &str, action: &ActionDef, dir: &str, input: &str, output: &str) {
    let el = &action.element;
    assert_eq!(el.text_of("job-tracker"), Some("${jobTracker}"), "{kind}");
    assert_eq!(el.text_of("name-node"), Some("${nameNode}"), "{kind}");
    let no_edp = el.properties().iter().all(|(k, _)| !k.starts_with("edp.") && !k.starts_with("oozie."));
    assert!(no_edp, "{kind}: edp.* and oozie.* keys never reach the Hadoop configuration: {:?}", el.properties());
    match kind {
        "MapReduce" => {
            assert_eq!(action.kind, "map-reduce");
            assert_eq!(property(action, "mapred.input.dir").as_deref(), Some(input));
            assert_eq!(property(action, "mapred.output.dir").as_deref(), Some(output));
            assert_eq!(property(action, "mapreduce.job.reduces").as_deref(), Some("2"));
            assert_eq!(property(action, "mapred.mapper.class").as_deref(), Some("org.W"));
            assert!(el.child("streaming").is_none());
        }
        "MapReduce.Streaming" => {
            assert_eq!(action.kind, "map-reduce");
            let streaming = el.child("streaming").expect("a <streaming> element");
            assert_eq!(streaming.text_of("mapper"), Some("/bin/cat"));
            assert_eq!(streaming.text_of("reducer"), Some("/usr/bin/wc -l"));
            assert_eq!(property(action, "mapred.input.dir").as_deref(), Some(input));
        }
        "Java" => {
            assert_eq!(action.kind, "java");
            assert_eq!(el.text_of("main-class"), Some("org.example.Main"));
            assert_eq!(el.text_of("java-opts"), Some("-Xmx512m"));
            assert_eq!(el.texts("arg"), ["first", "a b", "x<y && \"q\""]);
        }
        "Pig" => {
            assert_eq!(action.kind, "pig");
            assert_eq!(el.text_of("script"), Some("wc.pig"));
            assert_eq!(el.texts("param"), [format!("INPUT={input}"), format!("OUTPUT={output}"), "LIMIT=10".into()]);
            assert_eq!(el.texts("argument"), ["-verbose"]);
            assert_eq!(property(action, "pig.tmpfilecompression").as_deref(), Some("true"));
        }
        "Hive" => {
            assert_eq!((action.kind.as_str(), el.namespace.as_str()), ("hive", "uri:oozie:hive-action:0.5"));
            assert_eq!(el.text_of("script"), Some("q.sql"));
            assert_eq!(
                el.texts("param"),
                [format!("INPUT={input}"), format!("OUTPUT={output}"), "DAY=2020-01-10".into()]
            );
        }
        "Shell" => {
            assert_eq!((action.kind.as_str(), el.namespace.as_str()), ("shell", "uri:oozie:shell-action:0.3"));
            assert_eq!(el.text_of("exec"), Some("run.sh"));
            assert_eq!(el.texts("argument"), ["one", "two"]);
            assert_eq!(el.texts("env-var"), ["GREETING=hello there"]);
            assert_eq!(el.texts("file"), ["run.sh#run.sh", "lib/data.txt#data.txt"]);
        }
        "Spark" => {
            assert_eq!((action.kind.as_str(), el.namespace.as_str()), ("spark", "uri:oozie:spark-action:0.2"));
            assert_eq!(el.text_of("master"), Some("yarn"));
            assert_eq!(el.text_of("mode"), Some("cluster"));
            assert_eq!(el.text_of("class"), Some("org.example.SparkPi"));
            assert_eq!(el.text_of("jar").map(str::to_string), Some(format!("{NAME_NODE}{dir}/spark-app.jar")));
            assert_eq!(
                el.text_of("spark-opts").map(str::to_string),
                Some(format!("--jars {NAME_NODE}{dir}/lib/dep.jar --conf spark.executor.memory=2g"))
            );
            assert_eq!(el.texts("arg"), ["100"]);
        }
        other => panic!("no checks for {other}"),
    }
}

#[tokio::test]
async fn each_job_type_uploads_a_valid_workflow_with_its_properties_paths_and_arguments() {
    let env = start(FAST).await;
    let input_url = "/data/books";
    let output_url = "hdfs://namenode.test:8020/out/%JOB_EXEC_ID%";
    let input = data_source(&env.app, "books", input_url).await;
    let output = data_source(&env.app, "counts", output_url).await;

    let mut launched = Vec::new();
    for case in cases() {
        let mut mains = Vec::new();
        for (name, bytes) in &case.mains {
            mains.push(binary(&env.app, name, bytes).await);
        }
        let mut libs = Vec::new();
        for (name, bytes) in &case.libs {
            libs.push(binary(&env.app, name, bytes).await);
        }
        let template_name = format!("{}-job", case.kind);
        let mains_ref: Vec<&str> = mains.iter().map(String::as_str).collect();
        let libs_ref: Vec<&str> = libs.iter().map(String::as_str).collect();
        let template = template(&env.app, &template_name, case.kind, &mains_ref, &libs_ref).await;
        let mut extra = json!({"job_configs": case.job_configs});
        if case.data_sources {
            extra["input_id"] = json!(input);
            extra["output_id"] = json!(output);
        }
        let id = launch(&env, &template, extra).await;
        launched.push((case, id, template_name));
    }

    for (case, id, template_name) in &launched {
        let view = workflow_of(&env, id).await;
        let dir = app_dir(&view);
        assert_eq!(dir, format!("/user/{HDFS_USER}/edp/{template_name}/{id}"), "{}", case.kind);

        // The workflow Oozie read is the one in HDFS, and it is valid.
        let uploaded = env.oozie.file(&format!("{dir}/workflow.xml")).expect("workflow.xml in HDFS");
        let xml = String::from_utf8(uploaded).unwrap();
        assert_eq!(xml, view.definition);
        let wf = workflow::parse(&xml).unwrap_or_else(|e| panic!("{}: {e}\n{xml}", case.kind));
        assert!(wf.name.ends_with(id.as_str()), "the workflow's name carries the execution id: {}", wf.name);
        assert_eq!(wf.actions().len(), 1);
        let action = wf.actions()[0];
        assert_eq!((action.ok.as_str(), action.error.as_str()), ("end", "fail"));
        let input_uri = format!("{NAME_NODE}{input_url}");
        let output_uri = output_url.replace("%JOB_EXEC_ID%", id);
        check_action(case.kind, action, &dir, &input_uri, &output_uri);

        // Mains beside workflow.xml, libs under lib/, byte for byte, under
        // their binaries' names.
        for (name, bytes) in &case.mains {
            assert_eq!(env.oozie.file(&format!("{dir}/{name}")).as_deref(), Some(*bytes), "{}", case.kind);
        }
        for (name, bytes) in &case.libs {
            assert_eq!(env.oozie.file(&format!("{dir}/lib/{name}")).as_deref(), Some(*bytes), "{}", case.kind);
        }

        // The job properties.
        let conf = &view.conf;
        assert_eq!(conf["user.name"], HDFS_USER);
        assert_eq!(view.user, HDFS_USER);
        assert_eq!(conf["nameNode"], NAME_NODE);
        assert_eq!(conf["jobTracker"], JOB_TRACKER);
        assert_eq!(conf["oozie.wf.application.path"], format!("{NAME_NODE}{dir}"));
        assert_eq!(conf["oozie.use.system.libpath"], "true");
        assert_eq!(conf["oozie.launcher.mapreduce.map.memory.mb"], "1024", "the cluster's oozie.* properties");
        let callback = &conf["oozie.wf.workflow.notification.url"];
        assert!(
            callback.contains(&format!("/v2/jobs/{id}/callback?token=")) && callback.ends_with("&status=$status"),
            "{callback}"
        );
        assert!(!conf.keys().any(|k| k.starts_with("edp.")), "{conf:?}");
        if case.kind == "Java" {
            assert_eq!(conf["oozie.job.acl"], "ops", "a job's oozie.* configs are job properties");
        }

        // And the execution knows its workflow.
        let job = wait_status(&env, id, "RUNNING", DEADLINE).await;
        assert_eq!(job["engine_job_id"], view.id.as_str(), "{job}");
    }

    for (_, id, _) in &launched {
        let view = workflow_of(&env, id).await;
        env.oozie.finish(&view.id, Outcome::Succeeded).expect("the workflow runs");
    }
    for (case, id, _) in &launched {
        let job = wait_status(&env, id, "SUCCEEDED", DEADLINE).await;
        assert_eq!(job["return_code"], 0, "{}: {job}", case.kind);
    }
    assert_eq!(env.oozie.submissions(), launched.len(), "one submission per launch");
}

#[tokio::test]
async fn a_dry_run_shows_the_workflow_and_configuration_and_submits_nothing() {
    let env = start(FAST).await;
    let main = binary(&env.app, "dry.pig", b"A = LOAD '$INPUT';").await;
    let template = template(&env.app, "dry", "Pig", &[&main], &[]).await;
    let input = data_source(&env.app, "in", "/in").await;
    let output = data_source(&env.app, "out", "/out").await;
    let body = json!({
        "job_template_id": template, "cluster_id": env.cluster, "input_id": input, "output_id": output,
        "job_configs": {"params": {"X": "1"}, "configs": {"edp.unknown.key": "x"}}
    });
    let reply = env.app.post("/v2/jobs/dry-run", body).await.expect(200);
    let dry = &reply["dry_run"];
    assert_eq!(dry["kind"], "workflow", "{reply}");
    let xml = dry["request"]["workflow_xml"].as_str().expect("workflow_xml");
    let wf = workflow::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(
        wf.actions()[0].element.texts("param"),
        [format!("INPUT={NAME_NODE}/in"), format!("OUTPUT={NAME_NODE}/out"), "X=1".into()]
    );
    let conf = &dry["request"]["configuration"];
    assert_eq!(conf["user.name"], HDFS_USER);
    assert!(
        conf["oozie.wf.application.path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{NAME_NODE}/user/{HDFS_USER}/edp/dry/"))
    );
    let callback = conf["oozie.wf.workflow.notification.url"].as_str().unwrap_or_default();
    assert!(callback.contains("/callback?token=REDACTED&status=$status"), "no secret in a dry run: {callback}");
    assert!(dry["files"]["workflow.xml"].as_str().unwrap().ends_with("/workflow.xml"), "{dry}");
    assert!(dry["files"]["dry.pig"].is_string(), "{dry}");
    let warnings = dry["request"]["warnings"].to_string();
    assert!(warnings.contains("edp.unknown.key"), "{warnings}");

    assert_eq!(env.oozie.submissions(), 0);
    assert_eq!(env.oozie.paths(), ["/"], "nothing was uploaded");
}

#[tokio::test]
async fn bad_job_configs_are_refused_before_anything_is_stored_or_submitted() {
    let env = start(FAST).await;
    let jar = binary(&env.app, "main.jar", b"PK").await;
    let java = template(&env.app, "no-main-class", "Java", &[], &[&jar]).await;
    let refused =
        env.app.post("/v2/jobs", json!({"job_template_id": java, "cluster_id": env.cluster, "job_configs": {}})).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(refused.body.to_string().contains("edp.java.main_class"), "{}", refused.body);

    let mr = template(&env.app, "mr", "MapReduce", &[], &[&jar]).await;
    let refused =
        env.app.post("/v2/jobs", json!({"job_template_id": mr, "cluster_id": env.cluster, "job_configs": {}})).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(refused.body.to_string().contains("input and an output"), "{}", refused.body);

    let jobs = env.app.get("/v2/jobs").await.expect(200);
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");
    assert_eq!(env.oozie.submissions(), 0);
}
