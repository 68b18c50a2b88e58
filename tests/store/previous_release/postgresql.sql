-- The state store's schema as Civic created it on postgresql before migrations (commit a3b85c5):
-- what metadata.create_all emitted, frozen for tests/store/test_migrations.py. Never edit.

CREATE TABLE civic_revisions (
	id SERIAL NOT NULL,
	git_revision VARCHAR(64),
	applied_at FLOAT NOT NULL,
	applied_by VARCHAR(200) NOT NULL,
	summary TEXT NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE civic_objects (
	kind VARCHAR(40) NOT NULL,
	name VARCHAR(100) NOT NULL,
	spec TEXT NOT NULL,
	fingerprint VARCHAR(64) NOT NULL,
	secrets TEXT NOT NULL,
	revision_id INTEGER NOT NULL,
	applied_at FLOAT NOT NULL,
	PRIMARY KEY (kind, name)
);

CREATE TABLE civic_history (
	id SERIAL NOT NULL,
	revision_id INTEGER NOT NULL,
	kind VARCHAR(40) NOT NULL,
	name VARCHAR(100) NOT NULL,
	operation VARCHAR(10) NOT NULL,
	spec TEXT,
	changes TEXT NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_civic_history_revision_id ON civic_history (revision_id);

CREATE INDEX ix_civic_history_object ON civic_history (kind, name);

CREATE TABLE civic_secrets (
	scope VARCHAR(120) NOT NULL,
	name VARCHAR(253) NOT NULL,
	ciphertext BYTEA NOT NULL,
	fingerprint VARCHAR(64) NOT NULL,
	updated_at FLOAT NOT NULL,
	PRIMARY KEY (scope, name)
);

CREATE TABLE civic_locks (
	name VARCHAR(100) NOT NULL,
	holder VARCHAR(200) NOT NULL,
	acquired_at FLOAT NOT NULL,
	expires_at FLOAT NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE civic_service_revisions (
	environment VARCHAR(100) NOT NULL,
	service VARCHAR(100) NOT NULL,
	revision INTEGER NOT NULL,
	spec TEXT NOT NULL,
	created_at FLOAT NOT NULL,
	created_by VARCHAR(200) NOT NULL,
	status VARCHAR(20) NOT NULL,
	message TEXT NOT NULL,
	PRIMARY KEY (environment, service, revision)
);

CREATE TABLE civic_services (
	environment VARCHAR(100) NOT NULL,
	service VARCHAR(100) NOT NULL,
	revision INTEGER NOT NULL,
	replicas INTEGER,
	generation INTEGER NOT NULL,
	updated_at FLOAT NOT NULL,
	PRIMARY KEY (environment, service)
);

CREATE TABLE civic_replicas (
	id VARCHAR(200) NOT NULL,
	environment VARCHAR(100) NOT NULL,
	service VARCHAR(100) NOT NULL,
	revision INTEGER NOT NULL,
	generation INTEGER NOT NULL,
	pid INTEGER NOT NULL,
	start_time INTEGER NOT NULL,
	port INTEGER NOT NULL,
	slot INTEGER,
	started_at FLOAT NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_civic_replicas_environment ON civic_replicas (environment);

CREATE TABLE civic_tokens (
	digest VARCHAR(64) NOT NULL,
	team VARCHAR(100),
	created_at FLOAT NOT NULL,
	PRIMARY KEY (digest)
);

CREATE TABLE civic_alert_events (
	id SERIAL NOT NULL,
	received_at FLOAT NOT NULL,
	status VARCHAR(20) NOT NULL,
	alertname VARCHAR(200) NOT NULL,
	environment VARCHAR(100) NOT NULL,
	service VARCHAR(100) NOT NULL,
	team VARCHAR(100) NOT NULL,
	severity VARCHAR(20) NOT NULL,
	summary TEXT NOT NULL,
	starts_at VARCHAR(40) NOT NULL,
	labels TEXT NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_civic_alert_events_team ON civic_alert_events (team);
