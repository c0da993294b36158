"""Drive edpd with python-saharaclient's v1.1 client, as scripts written for
Sahara's v1.1 API do.

No Keystone: a keystoneauth1 session with a static token and a static
endpoint; v1.1 carries the project in the URL, so it is part of sahara_url.
Every step checks what it reads back in v1.1's names (`tenant_id`, `job_id`,
`oozie_job_id`, `hadoop_version`); any failure raises, and the process exits
non-zero.

Usage: python saharaclient_v11_e2e.py http://127.0.0.1:PORT WORKDIR
"""
import sys
import time

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from saharaclient import client as sahara_client
from saharaclient.api.base import APIException

BASE = sys.argv[1].rstrip("/")
WORK = sys.argv[2]
PROJECT = "0123456789abcdef0123456789abcdef"
TERMINAL = {"SUCCEEDED", "FAILED", "KILLED", "DONEWITHERROR"}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def refused(call, code, name):
    """Runs `call`, which must fail with Sahara's error `code`/`name`."""
    try:
        call()
    except APIException as e:
        check(e.error_code == code and e.error_name == name, "expected %s %s, got %s %s: %s"
              % (code, name, e.error_code, e.error_name, e.error_message))
        return
    raise AssertionError("expected %s %s, the call succeeded" % (code, name))


def raw(c, path):
    """A GET the v1.1 client has no method for; the JSON body."""
    resp = c.job_executions.api.get(path)
    check(resp.status_code == 200, "GET %s answered %s: %s" % (path, resp.status_code, resp.text))
    return resp.json()


def wait(c, je_id, wanted, timeout=60):
    """Polls with v1.1's refresh-status until the status is one of `wanted`."""
    deadline = time.time() + timeout
    while True:
        je = raw(c, "/job-executions/%s/refresh-status" % je_id)["job_execution"]
        status = je["info"]["status"]
        if status in wanted:
            return je
        check(time.time() < deadline, "job execution %s stuck in %s, wanted %s" % (je_id, status, wanted))
        time.sleep(0.2)


auth = token_endpoint.Token(endpoint=BASE, token="any-token")
sess = ks_session.Session(auth=auth)
c = sahara_client.Client("1.1", session=sess, sahara_url="%s/v1.1/%s" % (BASE, PROJECT))

# Clusters: the declared `local` one (public, another project's), and one
# registered here with v1.1's `hadoop_version`.
local = [cl for cl in c.clusters.list() if cl.name == "local"]
check(len(local) == 1 and local[0].status == "Active", "the local cluster: %s" % local)
check(local[0].hadoop_version and not hasattr(local[0], "plugin_version"), "v1.1 cluster names: %s"
      % local[0].to_dict())
mine = c.clusters.create("v11-local", "local", local[0].hadoop_version, cluster_configs={})
check(mine.status == "Active" and mine.tenant_id == PROJECT, "registered cluster: %s" % mine.to_dict())
got = c.clusters.get(mine.id)
check(got.name == "v11-local" and got.hadoop_version == local[0].hadoop_version, "cluster read back")
check([cl.id for cl in c.clusters.list(search_opts={"hadoop_version": got.hadoop_version, "name": "v11"})]
      == [mine.id], "cluster filters")
check(c.clusters.update(mine.id, description="mine").cluster["description"] == "mine", "cluster update")

# Data sources; v1.1 updates them with PUT.
ds_in = c.data_sources.create("v11-in", "input", "file", "file://%s/in" % WORK,
                              credential_user="u", credential_pass="hunter2")
check(ds_in.type == "file" and ds_in.tenant_id == PROJECT, "data source fields: %s" % ds_in.to_dict())
check(not hasattr(ds_in, "credentials") and not hasattr(ds_in, "project_id"), "v1.1 data source shape")
ds_out = c.data_sources.create("v11-out", "output", "file", "file://%s/out-%%JOB_EXEC_ID%%" % WORK)
updated = c.data_sources.update(ds_in.id, {"description": "new words"})
check(updated.data_source["description"] == "new words", "data source update answer")
check(c.data_sources.get(ds_in.id).description == "new words", "data source update")
page = c.data_sources.list(limit=1, sort_by="name")
check([d.id for d in page] == [ds_in.id] and page.next == ds_in.id, "data source page 1: %s" % page)
page = c.data_sources.list(limit=1, marker=page.next, sort_by="name")
check([d.id for d in page] == [ds_out.id] and page.prev is None, "data source page 2: %s" % page)
check([d.id for d in c.data_sources.list(sort_by="name", reverse=True)] == [ds_out.id, ds_in.id], "sort")

# Uploads (job binary internals) and the job binaries that point at them.
script = b"#!/bin/sh\necho \"hello $1\"\nls \"$EDP_INPUT\"\n"
internal = c.job_binary_internals.create("hello.sh", script)
check(internal.datasize == len(script) and internal.tenant_id == PROJECT, "internal: %s" % internal.to_dict())
check(c.job_binary_internals.get(internal.id).name == "hello.sh", "internal read back")
check(internal.id in [i.id for i in c.job_binary_internals.list(search_opts={"name": "hello"})], "internals")
renamed = c.job_binary_internals.update(internal.id, name="hi.sh")
check(renamed.job_binary_internal["name"] == "hi.sh", "internal rename: %s" % renamed.to_dict())
jb = c.job_binaries.create("hello.sh", "internal-db://%s" % internal.id, description="greets",
                           extra={"user": "u", "password": "hunter2"})
check(jb.url == "internal-db://%s" % internal.id and not hasattr(jb, "extra"), "job binary fields")
check(c.job_binaries.get_file(jb.id) == script, "job binary data")
check(c.job_binaries.update(jb.id, {"description": "says hello"}).description == "says hello",
      "job binary update (PUT)")
check([b.id for b in c.job_binaries.list(search_opts={"name": "hello"})] == [jb.id], "job binary list")

# Jobs: v1.1's name for job templates.
job = c.jobs.create("v11-hello", "Shell", mains=[jb.id], libs=[], description="d", interface=[])
check(job.type == "Shell" and job.tenant_id == PROJECT, "job fields: %s" % job.to_dict())
check(job.mains[0]["id"] == jb.id and job.mains[0]["tenant_id"] == PROJECT, "job mains: %s" % job.mains)
check(c.jobs.get(job.id).name == "v11-hello", "job read back")
check(c.jobs.update(job.id, description="greets").job["description"] == "greets", "job update")
check([j.id for j in c.jobs.list(search_opts={"type": "Shell"})] == [job.id], "job list")
check("job_config" in c.jobs.get_configs("Shell").to_dict(), "config hints")

# Executions: launched through /jobs/{id}/execute, polled with refresh-status.
je = c.job_executions.create(job.id, mine.id, input_id=ds_in.id, output_id=ds_out.id,
                             configs={"configs": {}, "args": ["world"], "params": {}})
check(je.info["status"] == "PENDING" and je.job_id == job.id, "a new execution: %s" % je.to_dict())
check(not hasattr(je, "job_template_id") and je.tenant_id == PROJECT, "v1.1 execution names")
done = wait(c, je.id, TERMINAL)
check(done["info"]["status"] == "SUCCEEDED", "execution ended %s" % done["info"])
got = c.job_executions.get(je.id)
check(got.return_code == 0 and got.engine_job_id and got.oozie_job_id == got.engine_job_id,
      "return code and engine id under both names: %s" % got.to_dict())
check(got.cluster_id == mine.id and got.input_id == ds_in.id, "execution links")
check(je.id in [x.id for x in c.job_executions.list()], "execution listed")
check([x.id for x in c.job_executions.list(search_opts={"status": "SUCCEEDED", "job_id": job.id})] == [je.id],
      "execution filters")
check(c.job_executions.list(search_opts={"status": "RUNNING"}) == [], "status filter")
public = c.job_executions.update(je.id, is_public=True)
check(public.job_execution["is_public"] is True, "execution update: %s" % public.to_dict())

# A long one, cancelled with v1.1's GET .../cancel (the client has no method).
sleeper = c.job_binaries.create(
    "sleep.sh", "internal-db://%s" % c.job_binary_internals.create("sleep.sh", b"sleep 600\n").id)
long_job = c.jobs.create("v11-sleep", "Shell", mains=[sleeper.id], libs=[])
long_je = c.job_executions.create(long_job.id, local[0].id)
wait(c, long_je.id, {"RUNNING"})
cancelled = raw(c, "/job-executions/%s/cancel" % long_je.id)["job_execution"]
check(cancelled["info"]["status"] in ("TOBEKILLED", "KILLED"), "cancel answer: %s" % cancelled["info"])
killed = wait(c, long_je.id, TERMINAL, timeout=30)
check(killed["info"]["status"] == "KILLED", "cancelled execution ended %s" % killed["info"])

# Job types, with v1.1's filters.
types = {t.name: t for t in c.job_types.list()}
check("Shell" in types and types["Shell"].plugins[0]["name"] == "local", "job types: %s" % list(types))
only = c.job_types.list(search_opts={"type": "Shell", "plugin": "local", "version": local[0].hadoop_version})
check([t.name for t in only] == ["Shell"], "job type filters: %s" % only)
check(c.job_types.list(search_opts={"plugin": "nope"}) == [], "job type plugin filter")

# Bad input answers in Sahara's shape.
refused(lambda: c.job_executions.get("0b4b9f1e-7a7f-4c1e-9d4e-000000000000"), 404, "NOT_FOUND")
refused(lambda: c.job_executions.create(job.id, "0b4b9f1e-7a7f-4c1e-9d4e-000000000000"), 400,
        "INVALID_REFERENCE")
refused(lambda: c.job_executions.list(search_opts={"colour": "red"}), 400, "INVALID_PARAMS_ON_REQUEST")

# Delete everything; a deleted execution is a 404.
for x in (je, long_je):
    c.job_executions.delete(x.id)
refused(lambda: c.job_executions.get(je.id), 404, "NOT_FOUND")
for j in (job, long_job):
    c.jobs.delete(j.id)
for b in (jb, sleeper):
    c.job_binaries.delete(b.id)
for i in c.job_binary_internals.list():
    c.job_binary_internals.delete(i.id)
for d in (ds_in, ds_out):
    c.data_sources.delete(d.id)
c.clusters.delete(mine.id)
check(c.job_executions.list() == [] and c.jobs.list() == [] and c.job_binaries.list() == [], "all deleted")
check(c.job_binary_internals.list() == [] and c.data_sources.list() == [], "all deleted")
print("saharaclient v1.1: all steps passed")
