"""Wiring of deploy/terraform, read with python-hcl2: who may do what, and how the
components are connected. No provider, no cloud: the Google provider cannot be
downloaded here, so these assertions stand in for `terraform validate/plan`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "deploy" / "terraform"

SCHEMA_FILE = REPO / "functions" / "schema" / "event-message.bq.json"

# The fields of the Pub/Sub message data the events function publishes
# (functions/src/message.ts, MessageData). The BigQuery table must have exactly
# these columns plus the Pub/Sub metadata columns.
FUNCTION_MESSAGE_FIELDS = ["event_id", "table", "operation", "old", "new", "diff", "created_at"]

# write_metadata = true makes Pub/Sub fill these columns (its docs: subscription
# name, message_id and publish_time in their own columns, the attributes and
# ordering key as a JSON object in `attributes`, JSON or STRING).
PUBSUB_METADATA_COLUMNS = {
    "subscription_name": {"STRING"},
    "message_id": {"STRING"},
    "publish_time": {"TIMESTAMP"},
    "attributes": {"JSON", "STRING"},
}

EXPECTED_FILES = {
    "versions.tf",
    "variables.tf",
    "outputs.tf",
    "main.tf",
    "network.tf",
    "sql.tf",
    "secrets.tf",
    "function.tf",
    "pubsub.tf",
    "bigquery.tf",
    "loader_job.tf",
    "iam.tf",
    "relay.tf",
}

PUBSUB_AGENT = "pubsub-service-agent"
PROJECT = "project"

# principal -> {(role, scope)}; scope is the resource the grant is attached to,
# or "project" for project-level grants.
EXPECTED_GRANTS: dict[str, set[tuple[str, str]]] = {
    "google_service_account.loader": {
        ("roles/secretmanager.secretAccessor", "google_secret_manager_secret.db_password"),
    },
    "google_service_account.function": {
        ("roles/secretmanager.secretAccessor", "google_secret_manager_secret.events_secret"),
        # only when var.hasura_static_secret (count): Hasura's own static secret
        (
            "roles/secretmanager.secretAccessor",
            "google_secret_manager_secret.hasura_events_secret",
        ),
        ("roles/pubsub.publisher", "google_pubsub_topic.events"),
    },
    # The relay calls the function (on its service only, never project-wide), connects
    # to Cloud SQL and reads the two secrets it needs.
    "google_service_account.relay": {
        ("roles/run.invoker", "google_cloudfunctions2_function.events"),
        ("roles/cloudsql.client", PROJECT),
        ("roles/secretmanager.secretAccessor", "google_secret_manager_secret.db_password"),
        ("roles/secretmanager.secretAccessor", "google_secret_manager_secret.events_secret"),
    },
    "google_service_account.function_build": {
        ("roles/logging.logWriter", PROJECT),
        ("roles/storage.objectViewer", PROJECT),
        ("roles/artifactregistry.writer", "google_artifact_registry_repository.images"),
    },
    PUBSUB_AGENT: {
        ("roles/bigquery.dataEditor", "google_bigquery_dataset.events"),
        ("roles/pubsub.publisher", "google_pubsub_topic.events_dead_letter"),
        ("roles/pubsub.subscriber", "google_pubsub_subscription.events_bigquery"),
        ("roles/pubsub.subscriber", "google_pubsub_subscription.events_ordered"),
    },
    "var.function_invokers": {
        ("roles/run.invoker", "google_cloudfunctions2_function.events"),
    },
}

# IAM member resource type -> attribute naming the resource the grant is on.
SCOPE_ATTRIBUTE = {
    "google_project_iam_member": None,
    "google_secret_manager_secret_iam_member": "secret_id",
    "google_pubsub_topic_iam_member": "topic",
    "google_pubsub_subscription_iam_member": "subscription",
    "google_bigquery_dataset_iam_member": "dataset_id",
    "google_artifact_registry_repository_iam_member": "repository",
    "google_cloud_run_v2_service_iam_member": "name",
}


def _string_list(expr: str) -> list[str]:
    """'${toset(["a", "b"])}' -> ['a', 'b']."""
    m = re.fullmatch(r"\$\{toset\(\[(.*)\]\)\}", expr.strip(), flags=re.S)
    assert m, f"unsupported for_each expression {expr!r}"
    return re.findall(r'"([^"]+)"', m.group(1))


def _principal(member: str, tf: Any) -> str:
    if member == "${local.pubsub_service_agent}":
        agent = tf.locals["pubsub_service_agent"]
        assert agent == (
            "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
        )
        return PUBSUB_AGENT
    m = re.fullmatch(r"serviceAccount:\$\{(google_service_account\.[a-z_]+)\.email\}", member)
    if m:
        return m.group(1)
    if member == "${each.value}":
        return "<each>"
    raise AssertionError(f"unexpected IAM member {member!r}")


def collect_grants(tf: Any) -> dict[str, set[tuple[str, str]]]:
    grants: dict[str, set[tuple[str, str]]] = {}
    for (rtype, name), body in tf.resources.items():
        if not rtype.endswith("_iam_member"):
            continue
        assert rtype in SCOPE_ATTRIBUTE, (
            f"{rtype}.{name}: IAM resource type not covered by the test"
        )
        for_each = body.get("for_each")
        # Expand for_each into (role, member, scope-expression) triples.
        items: list[tuple[str, str, Any]] = []
        scope_attr = SCOPE_ATTRIBUTE[rtype]
        scope_expr = body.get(scope_attr) if scope_attr else None
        if for_each is None:
            items.append((body["role"], body["member"], scope_expr))
        elif isinstance(for_each, dict):
            for value in for_each.values():
                items.append(
                    (
                        value if body["role"] == "${each.value}" else body["role"],
                        body["member"],
                        value if scope_expr == "${each.value}" else scope_expr,
                    )
                )
        elif for_each == "${toset(var.function_invokers)}":
            assert body["member"] == "${each.value}"
            items.append((body["role"], "var.function_invokers", scope_expr))
        else:
            for value in _string_list(for_each):
                role = value if body["role"] == "${each.value}" else body["role"]
                items.append((role, body["member"], scope_expr))
        for role, member, scope in items:
            principal = member if member == "var.function_invokers" else _principal(member, tf)
            scope_name = PROJECT if scope_attr is None else ref(scope)
            assert scope_name, f"{rtype}.{name}: cannot resolve the scope {scope!r}"
            grants.setdefault(principal, set()).add((role, scope_name))
    return grants


_REF = re.compile(r"\$\{\s*([A-Za-z0-9_]+\.[A-Za-z0-9_]+)")


def ref(value: Any) -> str | None:
    """'${google_pubsub_topic.events.id}' -> 'google_pubsub_topic.events'."""
    if not isinstance(value, str):
        return None
    m = _REF.search(value)
    return m.group(1) if m else None


def one(blocks: Any) -> dict[str, Any]:
    """A nested block (parsed as a list of one dict) -> that dict."""
    assert isinstance(blocks, list) and len(blocks) == 1, (
        f"expected exactly one block, got {blocks!r}"
    )
    block = blocks[0]
    assert isinstance(block, dict)
    return block


# --- layout and versions ----------------------------------------------------------


def test_component_files_exist() -> None:
    present = {p.name for p in TF_DIR.glob("*.tf")}
    assert present >= EXPECTED_FILES, f"missing: {sorted(EXPECTED_FILES - present)}"


def test_providers_pinned(tf: Any) -> None:
    providers: dict[str, Any] = {}
    for block in tf.terraform:
        for rp in block.get("required_providers", []):
            providers.update(rp)
    assert providers["google"]["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> \d+\.\d+", providers["google"]["version"]), providers["google"]
    assert providers["random"]["source"] == "hashicorp/random"
    assert providers["archive"]["source"] == "hashicorp/archive"
    for name in ("random", "archive"):
        assert providers[name]["version"].startswith("~>")


def test_variables(tf: Any) -> None:
    for name in ("project", "region", "environment", "db_tier", "shards", "image"):
        assert name in tf.variables, name
    env = tf.variables["environment"]
    condition = one(env["validation"])["condition"]
    assert '"dev"' in condition and '"prod"' in condition and "var.environment" in condition
    assert tf.variables["deletion_protection"]["default"] is True


def test_outputs_exist(tf: Any) -> None:
    for name in (
        "sql_private_ip",
        "function_uri",
        "events_topic",
        "bigquery_table",
        "load_job",
        "finalize_job",
        "relay_service",
        "relay_service_account",
    ):
        assert name in tf.outputs, name


# --- IAM -------------------------------------------------------------------------


def test_one_service_account_per_component(tf: Any) -> None:
    assert set(tf.of_type("google_service_account")) == {
        "loader",
        "function",
        "function_build",
        "relay",
    }
    accounts = [body["account_id"] for body in tf.of_type("google_service_account").values()]
    assert len(set(accounts)) == len(accounts)


def test_no_keys_no_authoritative_iam_no_primitive_roles(tf: Any) -> None:
    for rtype, name in tf.resources:
        assert rtype != "google_service_account_key", f"{rtype}.{name}: no service account keys"
        assert not rtype.endswith(("_iam_binding", "_iam_policy")), (
            f"{rtype}.{name}: use additive *_iam_member grants"
        )
    text = "\n".join(tf.files.values())
    assert not re.search(r"roles/(owner|editor|viewer)\b", text), "primitive role in Terraform"


def test_each_principal_has_exactly_the_expected_roles(tf: Any) -> None:
    grants = collect_grants(tf)
    assert grants == EXPECTED_GRANTS


def test_secret_accessors(tf: Any) -> None:
    accessors: dict[str, set[str]] = {}
    for principal, roles in collect_grants(tf).items():
        for role, scope in roles:
            if role == "roles/secretmanager.secretAccessor":
                accessors.setdefault(scope, set()).add(principal)
    assert accessors == {
        "google_secret_manager_secret.db_password": {
            "google_service_account.loader",
            "google_service_account.relay",
        },
        "google_secret_manager_secret.events_secret": {
            "google_service_account.function",
            "google_service_account.relay",
        },
        "google_secret_manager_secret.hasura_events_secret": {"google_service_account.function"},
    }
    assert set(tf.of_type("google_secret_manager_secret")) == {
        "db_password",
        "events_secret",
        "hasura_events_secret",
    }


def test_components_run_as_their_own_service_accounts(tf: Any) -> None:
    fn = tf.get("google_cloudfunctions2_function", "events")
    assert (
        ref(one(fn["service_config"])["service_account_email"]) == "google_service_account.function"
    )
    assert (
        ref(one(fn["build_config"])["service_account"]) == "google_service_account.function_build"
    )
    for job in ("load", "finalize"):
        task = one(one(tf.get("google_cloud_run_v2_job", job)["template"])["template"])
        assert ref(task["service_account"]) == "google_service_account.loader", job
    relay = one(tf.get("google_cloud_run_v2_service", "relay")["template"])
    assert ref(relay["service_account"]) == "google_service_account.relay"


# --- secrets -------------------------------------------------------------------


def test_passwords_generated_and_stored_in_secret_manager(tf: Any) -> None:
    user = tf.get("google_sql_user", "pgbulk")
    assert user["password"] == "${random_password.db.result}"
    assert ref(user["instance"]) == "google_sql_database_instance.main"
    db_version = tf.get("google_secret_manager_secret_version", "db_password")
    assert db_version["secret_data"] == "${random_password.db.result}"
    assert ref(db_version["secret"]) == "google_secret_manager_secret.db_password"
    ev_version = tf.get("google_secret_manager_secret_version", "events_secret")
    assert ev_version["secret_data"] == "${random_password.events_secret.result}"
    assert tf.get("random_password", "db")["length"] >= 24
    assert tf.get("random_password", "events_secret")["length"] >= 32


def test_no_literal_secrets_in_terraform(tf: Any) -> None:
    for fname, text in tf.files.items():
        for m in re.finditer(
            r'(?im)^\s*(password|secret_data|root_password)\s*=\s*"([^"$]*)"', text
        ):
            pytest.fail(f"{fname}: literal {m.group(1)}")


# --- Cloud SQL -------------------------------------------------------------------


def test_cloud_sql_postgres15_private_ip_tls(tf: Any) -> None:
    inst = tf.get("google_sql_database_instance", "main")
    assert inst["database_version"] == "POSTGRES_15"
    settings = one(inst["settings"])
    ip = one(settings["ip_configuration"])
    assert ip["ipv4_enabled"] is False
    assert ref(ip["private_network"]) == "google_compute_network.vpc"
    assert ip["ssl_mode"] in {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}
    assert "authorized_networks" not in ip
    assert "${google_service_networking_connection.private_services}" in inst["depends_on"]


def test_cloud_sql_backups_pitr_deletion_protection(tf: Any) -> None:
    inst = tf.get("google_sql_database_instance", "main")
    settings = one(inst["settings"])
    backup = one(settings["backup_configuration"])
    assert backup["enabled"] is True
    assert backup["point_in_time_recovery_enabled"] is True
    assert inst["deletion_protection"] == "${var.deletion_protection}"
    assert settings["deletion_protection_enabled"] == "${var.deletion_protection}"
    assert tf.variables["deletion_protection"]["default"] is True


def test_cloud_sql_flags(tf: Any) -> None:
    settings = one(tf.get("google_sql_database_instance", "main")["settings"])
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert len(flags) == len(settings["database_flags"]), "duplicate database flag"
    expected_logging = {
        "log_checkpoints": "on",
        "log_connections": "on",
        "log_disconnections": "on",
        "log_lock_waits": "on",
        "log_hostname": "on",
        "log_duration": "on",
        "log_temp_files": "0",
        "log_min_duration_statement": "-1",
        "log_min_messages": "warning",
        "log_min_error_statement": "error",
        "cloudsql.enable_pgaudit": "on",
    }
    for name, value in expected_logging.items():
        assert flags.get(name) == value, name
    assert flags["log_statement"] in {"ddl", "mod", "all"}
    for bulk in ("maintenance_work_mem", "max_wal_size", "max_parallel_maintenance_workers"):
        assert bulk in flags, bulk
    # Durability is never traded for speed on the managed instance.
    for unsafe in ("fsync", "full_page_writes", "synchronous_commit"):
        assert unsafe not in flags, unsafe


def test_database_and_user(tf: Any) -> None:
    assert tf.get("google_sql_database", "pgbulk")["name"] == "pgbulk"
    assert tf.get("google_sql_user", "pgbulk")["name"] == "pgbulk"


def test_private_services_access(tf: Any) -> None:
    assert tf.get("google_compute_network", "vpc")["auto_create_subnetworks"] is False
    addr = tf.get("google_compute_global_address", "private_services")
    assert addr["purpose"] == "VPC_PEERING" and addr["address_type"] == "INTERNAL"
    conn = tf.get("google_service_networking_connection", "private_services")
    assert conn["service"] == "servicenetworking.googleapis.com"
    assert conn["reserved_peering_ranges"] == [
        "${google_compute_global_address.private_services.name}"
    ]
    fw = tf.get("google_compute_firewall", "deny_all_ingress")
    assert fw["direction"] == "INGRESS" and "deny" in fw and "allow" not in fw


# --- function ----------------------------------------------------------------------


def test_function_build(tf: Any) -> None:
    fn = tf.get("google_cloudfunctions2_function", "events")
    build = one(fn["build_config"])
    assert build["runtime"] == "nodejs20"
    assert build["entry_point"] == "events"
    storage = one(one(build["source"])["storage_source"])
    assert ref(storage["bucket"]) == "google_storage_bucket.function_source"
    assert ref(storage["object"]) == "google_storage_bucket_object.function_source"
    archive = tf.data[("archive_file", "function_source")]
    assert archive["type"] == "zip"
    assert archive["source_dir"] == "${path.module}/../../functions"
    assert "node_modules/**" in archive["excludes"]
    obj = tf.get("google_storage_bucket_object", "function_source")
    assert "${data.archive_file.function_source.output_md5}" in obj["name"], (
        "source change must redeploy"
    )


def test_function_service(tf: Any) -> None:
    svc = one(tf.get("google_cloudfunctions2_function", "events")["service_config"])
    assert svc["available_memory"] == "256M"
    assert svc["timeout_seconds"] == 60
    assert svc["ingress_settings"] in {"ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"}
    assert svc["environment_variables"] == {
        "EVENTS_TOPIC": "${google_pubsub_topic.events.id}",
        "NODE_ENV": "production",
    }
    secret_env = one(svc["secret_environment_variables"])
    assert secret_env["key"] == "EVENTS_SECRET"
    assert secret_env["secret"] == "${google_secret_manager_secret.events_secret.secret_id}"
    assert secret_env["version"] == "${var.events_secret_version}"


def test_function_secret_rotation_and_hasura_opt_in(tf: Any) -> None:
    svc = one(tf.get("google_cloudfunctions2_function", "events")["service_config"])
    dynamic = {
        one(d["secret_environment_variables"]["content"])["key"]: d["secret_environment_variables"]
        for d in svc["dynamic"]
    }
    previous = dynamic["EVENTS_SECRET_PREVIOUS"]
    assert "var.events_secret_previous_version" in previous["for_each"]
    content = one(previous["content"])
    assert content["secret"] == "${google_secret_manager_secret.events_secret.secret_id}"
    assert tf.variables["events_secret_previous_version"]["default"] == ""  # no rotation: off
    hasura = dynamic["HASURA_EVENTS_SECRET"]
    assert hasura["for_each"] == "${google_secret_manager_secret.hasura_events_secret}"
    assert tf.variables["hasura_static_secret"]["default"] is False  # off by default
    for rtype in ("random_password", "google_secret_manager_secret"):
        assert tf.get(rtype, "hasura_events_secret")["count"] == (
            "${var.hasura_static_secret ? 1 : 0}"
        )


# --- the relay -------------------------------------------------------------------


def test_relay_runs_one_always_on_instance(tf: Any) -> None:
    body = tf.get("google_cloud_run_v2_service", "relay")
    assert body["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    template = one(body["template"])
    scaling = one(template["scaling"])
    assert (scaling["min_instance_count"], scaling["max_instance_count"]) == (1, 1)
    container = one(template["containers"])
    assert container["image"] == "${var.image}"
    assert one(container["resources"])["cpu_idle"] is False  # works between requests
    for probe in ("startup_probe", "liveness_probe"):
        get = one(one(container[probe])["http_get"])
        assert (get["path"], get["port"]) == ("/healthz", 8080)
    args = container["args"]
    assert args[0] == "relay"
    assert args[args.index("--url") + 1] == (
        "${google_cloudfunctions2_function.events.service_config[0].uri}"
    )
    assert "--google-auth" in args
    assert args[args.index("--health-port") + 1] == "8080"
    # Nobody may call the relay's own service.
    for (rtype, _name), grant in tf.resources.items():
        if rtype == "google_cloud_run_v2_service_iam_member":
            assert "google_cloud_run_v2_service.relay" not in str(grant)


def test_relay_reaches_cloud_sql_and_the_function_over_the_vpc(tf: Any) -> None:
    template = one(tf.get("google_cloud_run_v2_service", "relay")["template"])
    container = one(template["containers"])
    env = _env(tf, container)
    assert env["PGHOST"] == "${google_sql_database_instance.main.private_ip_address}"
    assert env["PGSSLMODE"] in {"require", "verify-ca", "verify-full"}
    for name, secret in (
        ("PGPASSWORD", "db_password"),
        ("PGBULK_EVENTS_SECRET", "events_secret"),
    ):
        value = env[name]
        assert isinstance(value, list), f"{name} must come from Secret Manager"
        key_ref = one(one(value)["secret_key_ref"])
        assert key_ref["secret"] == f"${{google_secret_manager_secret.{secret}.secret_id}}"
    vpc = one(template["vpc_access"])
    # All traffic through the VPC: the function's internal-only ingress admits it.
    assert vpc["egress"] == "ALL_TRAFFIC"
    nic = one(vpc["network_interfaces"])
    assert ref(nic["subnetwork"]) == "google_compute_subnetwork.run"
    assert tf.get("google_compute_subnetwork", "run")["private_ip_google_access"] is True


def test_function_source_bucket(tf: Any) -> None:
    bucket = tf.get("google_storage_bucket", "function_source")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert one(bucket["versioning"])["enabled"] is True


# --- Pub/Sub -------------------------------------------------------------------------


def test_bigquery_subscription(tf: Any) -> None:
    sub = tf.get("google_pubsub_subscription", "events_bigquery")
    assert ref(sub["topic"]) == "google_pubsub_topic.events"
    bq = one(sub["bigquery_config"])
    assert bq["table"] == (
        "${google_bigquery_table.events.project}.${google_bigquery_table.events.dataset_id}"
        ".${google_bigquery_table.events.table_id}"
    )
    assert bq["use_table_schema"] is True
    assert bq["write_metadata"] is True
    assert "use_topic_schema" not in bq
    dlp = one(sub["dead_letter_policy"])
    assert ref(dlp["dead_letter_topic"]) == "google_pubsub_topic.events_dead_letter"
    assert 5 <= dlp["max_delivery_attempts"] <= 100
    # The grants must exist before Pub/Sub validates the subscription.
    assert "${google_bigquery_dataset_iam_member.pubsub_writer}" in sub["depends_on"]


def test_ordered_subscription_and_dead_letter(tf: Any) -> None:
    ordered = tf.get("google_pubsub_subscription", "events_ordered")
    assert ref(ordered["topic"]) == "google_pubsub_topic.events"
    assert ordered["enable_message_ordering"] is True
    assert (
        ref(one(ordered["dead_letter_policy"])["dead_letter_topic"])
        == "google_pubsub_topic.events_dead_letter"
    )
    # Messages published to a topic without subscription are lost.
    dl_subs = [
        name
        for name, body in tf.of_type("google_pubsub_subscription").items()
        if ref(body["topic"]) == "google_pubsub_topic.events_dead_letter"
    ]
    assert dl_subs == ["events_dead_letter"]


# --- BigQuery ------------------------------------------------------------------------


def test_table_partitioned_by_publish_time(tf: Any) -> None:
    table = tf.get("google_bigquery_table", "events")
    assert ref(table["dataset_id"]) == "google_bigquery_dataset.events"
    tp = one(table["time_partitioning"])
    assert tp == {"type": "DAY", "field": "publish_time"}


def test_table_schema_is_built_from_the_message_schema_file(tf: Any) -> None:
    expr = re.sub(r"\s+", "", tf.get("google_bigquery_table", "events")["schema"])
    assert expr == (
        '${jsonencode(concat(jsondecode(file("${path.module}/../../functions/schema/event-message.bq.json")),'
        "local.pubsub_metadata_columns))}"
    )
    # ...and that path, relative to deploy/terraform, is the schema file.
    assert (
        TF_DIR / "../../functions/schema/event-message.bq.json"
    ).resolve() == SCHEMA_FILE.resolve()


def _schema_file() -> list[dict[str, Any]]:
    if not SCHEMA_FILE.exists():
        pytest.fail(
            f"{SCHEMA_FILE.relative_to(REPO)} is missing: the BigQuery table cannot be built"
        )
    data = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_schema_file_fields_equal_the_function_message_fields() -> None:
    fields = _schema_file()
    assert [f["name"] for f in fields] == FUNCTION_MESSAGE_FIELDS
    for f in fields:
        assert set(f) <= {"name", "type", "mode", "description", "fields"}, f
        assert f["type"] in {
            "STRING",
            "JSON",
            "TIMESTAMP",
            "INTEGER",
            "INT64",
            "BOOLEAN",
            "RECORD",
        }, f
        assert f.get("mode", "NULLABLE") in {"NULLABLE", "REQUIRED", "REPEATED"}, f
    by_name = {f["name"]: f for f in fields}
    assert by_name["created_at"]["type"] == "TIMESTAMP"
    for required in ("event_id", "table", "operation", "diff", "created_at"):
        assert by_name[required]["mode"] == "REQUIRED", required
    for nullable in ("old", "new"):
        assert by_name[nullable]["mode"] == "NULLABLE", nullable


def test_effective_table_schema(tf: Any) -> None:
    """What jsonencode(concat(...)) yields: message fields then metadata columns."""
    metadata = tf.locals["pubsub_metadata_columns"]
    columns = _schema_file() + metadata
    names = [c["name"] for c in columns]
    assert len(names) == len(set(names)), f"duplicate column in {names}"
    assert names == FUNCTION_MESSAGE_FIELDS + list(PUBSUB_METADATA_COLUMNS)
    for col in metadata:
        assert col["type"] in PUBSUB_METADATA_COLUMNS[col["name"]], col
        assert col["mode"] == "NULLABLE", col
    types = {c["name"]: c["type"] for c in columns}
    assert types["publish_time"] == "TIMESTAMP"  # the partitioning column


# --- loader jobs --------------------------------------------------------------------


def _container(tf: Any, job: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    body = tf.get("google_cloud_run_v2_job", job)
    execution = one(body["template"])
    task = one(execution["template"])
    return execution, task, one(task["containers"])


def _env(tf: Any, container: dict[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for dyn in container.get("dynamic", []):
        block = dyn["env"]
        assert block["for_each"] == "${local.loader_env}"
        assert one(block["content"]) == {"name": "${env.key}", "value": "${env.value}"}
        env.update(tf.locals["loader_env"])
    for e in container.get("env", []):
        env[e["name"]] = e.get("value", e.get("value_source"))
    return env


def test_load_job_shards(tf: Any) -> None:
    execution, task, container = _container(tf, "load")
    assert execution["task_count"] == "${var.shards}"
    assert container["image"] == "${var.image}"
    args = container["args"]
    assert args[:3] == ["load", "--users", "${var.users}"]
    assert args[args.index("--if-exists") + 1] == "resume"
    assert args[args.index("--workers") + 1] == "${tostring(var.loader_workers)}"
    assert task["max_retries"] >= 1


def test_finalize_job(tf: Any) -> None:
    execution, _task, container = _container(tf, "finalize")
    assert execution["task_count"] == 1
    assert container["args"] == ["finalize"]


@pytest.mark.parametrize("job", ["load", "finalize"])
def test_job_connects_over_private_network_with_tls(tf: Any, job: str) -> None:
    _execution, task, container = _container(tf, job)
    env = _env(tf, container)
    assert env["PGHOST"] == "${google_sql_database_instance.main.private_ip_address}"
    assert env["PGDATABASE"] == "${google_sql_database.pgbulk.name}"
    assert env["PGUSER"] == "${google_sql_user.pgbulk.name}"
    assert env["PGSSLMODE"] in {"require", "verify-ca", "verify-full"}
    password = env["PGPASSWORD"]
    assert isinstance(password, list), "PGPASSWORD must come from Secret Manager, not a literal"
    key_ref = one(one(password)["secret_key_ref"])
    assert key_ref["secret"] == "${google_secret_manager_secret.db_password.secret_id}"
    nic = one(one(task["vpc_access"])["network_interfaces"])
    assert ref(nic["network"]) == "google_compute_network.vpc"
    assert ref(nic["subnetwork"]) == "google_compute_subnetwork.run"
