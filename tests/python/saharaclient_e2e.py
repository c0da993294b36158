"""Drive edpd with the real python-saharaclient, as an OpenStack user would.

No Keystone: a keystoneauth1 session with a static token and a static
endpoint (`token_endpoint.Token` + `sahara_url`). Every step checks what it
reads back; any failure raises, and the process exits non-zero.

Usage: python saharaclient_e2e.py http://127.0.0.1:PORT WORKDIR
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


def wait(c, job_id, wanted, timeout=60):
    deadline = time.time() + timeout
    while True:
        job = c.jobs.refresh_status(job_id)
        status = job.info["status"]
        if status in wanted:
            return job
        check(time.time() < deadline, "job %s stuck in %s, wanted %s" % (job_id, status, wanted))
        time.sleep(0.2)


auth = token_endpoint.Token(endpoint=BASE, token="any-token")
sess = ks_session.Session(auth=auth)
# v1.1 carries the project in the URL; v2 accepts it there too.
c1 = sahara_client.Client("1.1", session=sess, sahara_url="%s/v1.1/%s" % (BASE, PROJECT))
c2 = sahara_client.Client("2", session=sess, sahara_url="%s/v2/%s" % (BASE, PROJECT))

# Clusters: the declared `local` one, and one registered by the client.
local = [c for c in c2.clusters.list() if c.name == "local"]
check(len(local) == 1 and local[0].status == "Active", "the local cluster: %s" % local)
mine = c2.clusters.create("py-local", "local", "0.1.0", cluster_configs={})
check(mine.status == "Active", "registered cluster status: %s" % mine.status)
check(c2.clusters.get(mine.id).name == "py-local", "cluster read back")

# Data sources.
ds_in = c2.data_sources.create("py-in", "input", "file", "file://%s/in" % WORK,
                               credential_user="u", credential_pass="hunter2")
check(ds_in.type == "file" and ds_in.url == "file://%s/in" % WORK, "data source fields")
check(not hasattr(ds_in, "credentials"), "credentials must not be returned")
ds_out = c2.data_sources.create("py-out", "output", "file", "file://%s/out-%%JOB_EXEC_ID%%" % WORK)
c2.data_sources.update(ds_in.id, {"description": "new words"})
check(c2.data_sources.get(ds_in.id).description == "new words", "data source update")
check({d.id for d in c2.data_sources.list()} >= {ds_in.id, ds_out.id}, "data source list")

# A binary: bytes through v1.1's internal store, referenced from v2.
script = b"#!/bin/sh\necho \"hello $1\"\nls \"$EDP_INPUT\"\n"
internal = c1.job_binary_internals.create("hello.sh", script)
check(internal.datasize == len(script), "internal size")
jb = c2.job_binaries.create("hello.sh", "internal-db://%s" % internal.id, description="greets",
                            extra={"user": "u", "password": "hunter2"})
check(jb.url == "internal-db://%s" % internal.id and not hasattr(jb, "extra"), "job binary fields")
check(c2.job_binaries.get(jb.id).name == "hello.sh", "job binary read back")

# A template.
jt = c2.job_templates.create("py-hello", "Shell", mains=[jb.id], libs=[], interface=[])
check(jt.type == "Shell" and jt.mains[0]["id"] == jb.id, "template fields: %s" % jt.to_dict())
check(c2.job_templates.get(jt.id).name == "py-hello", "template read back")
check(hasattr(c2.job_templates.get_configs("Shell"), "job_config"), "config hints")

# Launch, poll with refresh_status, read back.
job = c2.jobs.create(jt.id, mine.id, input_id=ds_in.id, output_id=ds_out.id,
                     configs={"configs": {}, "args": ["world"], "params": {}})
check(job.info["status"] == "PENDING", "a new job is PENDING: %s" % job.info)
done = wait(c2, job.id, TERMINAL)
check(done.info["status"] == "SUCCEEDED", "job ended %s" % done.info)
got = c2.jobs.get(job.id)
check(got.return_code == 0 and got.engine_job_id, "return code and engine id: %s" % got.to_dict())
check(got.job_template_id == jt.id and got.cluster_id == mine.id, "job links")
check(job.id in [j.id for j in c2.jobs.list()], "job listed")
check(job.id in [j.id for j in c2.jobs.list(search_opts={"status": "SUCCEEDED"})], "status filter")
check(c2.jobs.update(job.id, is_public=True).job["is_public"] is True, "job update")

# A long job, cancelled with Sahara v2's raw PATCH (the client has no method).
long_jb = c2.job_binaries.create(
    "sleep.sh", "internal-db://%s" % c1.job_binary_internals.create("sleep.sh", b"sleep 600\n").id)
long_jt = c2.job_templates.create("py-sleep", "Shell", mains=[long_jb.id], libs=[], interface=[])
long_job = c2.jobs.create(long_jt.id, local[0].id)
wait(c2, long_job.id, {"RUNNING"})
resp = c2.jobs.api.patch("/jobs/%s" % long_job.id, json={"info": {"status": "cancel"}})
check(resp.status_code == 202, "cancel answered %s" % resp.status_code)
killed = wait(c2, long_job.id, TERMINAL, timeout=30)
check(killed.info["status"] == "KILLED", "cancelled job ended %s" % killed.info)

# Job types come from the loaded engines.
types = {t.name: t for t in c2.job_types.list()}
check("Shell" in types and types["Shell"].plugins[0]["name"] == "local", "job types: %s" % list(types))

# Delete everything; a deleted job is a 404.
for j in (job, long_job):
    c2.jobs.delete(j.id)
try:
    c2.jobs.get(job.id)
    raise AssertionError("a deleted job is still there")
except APIException as e:
    check(e.error_code == 404, "deleted job: %s" % e.error_code)
for jt_ in (jt, long_jt):
    c2.job_templates.delete(jt_.id)
for jb_ in (jb, long_jb):
    c2.job_binaries.delete(jb_.id)
c1.job_binary_internals.delete(internal.id)
for ds in (ds_in, ds_out):
    c2.data_sources.delete(ds.id)
c2.clusters.delete(mine.id)
check(c2.jobs.list() == [] and c2.job_templates.list() == [], "everything deleted")
print("saharaclient: all steps passed")
