-- Curio's config and machine tables as its migrations create them (schema
-- curio, as harmonydb sets search_path; written here from the migrations'
-- columns and rows, harmony/harmonydb/sql/), with a base layer as Curio
-- writes it: every key at its default commented out, what the operator set
-- live. Loaded by tests/integration/test_curio_import.py into a fresh
-- database.

CREATE SCHEMA IF NOT EXISTS curio;
SET search_path TO curio;

-- the migrations' own record (entry = the file's date prefix)
CREATE TABLE IF NOT EXISTS base (
    id SERIAL PRIMARY KEY,
    entry CHAR(12),
    applied TIMESTAMP DEFAULT current_timestamp
);
INSERT INTO base (entry) VALUES
    ('20230719'), ('20230823'), ('20230919'), ('20240212'), ('20240404'), ('20240611'),
    ('20240904'), ('20250926'), ('20260215');

-- 20230719-harmony.sql (the two tables read here; later columns folded in)
CREATE TABLE IF NOT EXISTS harmony_machines (
    id SERIAL PRIMARY KEY NOT NULL,
    last_contact TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    host_and_port VARCHAR(300) NOT NULL,
    cpu INTEGER NOT NULL,
    ram BIGINT NOT NULL,
    gpu FLOAT NOT NULL,
    unschedulable BOOLEAN DEFAULT FALSE,
    restart_request TIMESTAMP WITH TIME ZONE
);

-- 20230919-config.sql
CREATE TABLE IF NOT EXISTS harmony_config (
    id SERIAL PRIMARY KEY NOT NULL,
    title VARCHAR(300) UNIQUE NOT NULL,
    config TEXT NOT NULL
);

-- 20240212-common-layers.sql: the stock layers
INSERT INTO harmony_config (title, config) VALUES
    ('post', '
  [Subsystems]
  EnableWindowPost = true
  EnableWinningPost = true
  '),
    ('gui', '
  [Subsystems]
  EnableWebGui = true
  '),
    ('seal', '
  [Subsystems]
  EnableSealSDR = true
  EnableSealSDRTrees = true
  EnableSendPrecommitMsg = true
  EnablePoRepProof = true
  EnableSendCommitMsg = true
  EnableMoveStorage = true
  '),
    ('seal-gpu', '
  [Subsystems]
  EnableSealSDRTrees = true
  EnableSendPrecommitMsg = true
  '),
    ('seal-snark', '
  [Subsystems]
  EnablePoRepProof = true
  EnableSendCommitMsg = true
  '),
    ('sdr', '
  [Subsystems]
  EnableSealSDR = true
  '),
    ('storage', '
  [Subsystems]
  EnableMoveStorage = true
  ')
    ON CONFLICT (title) DO NOTHING;

-- 20240404-machine_detail.sql (+ machine_name, 20240527; version, 20260501)
CREATE TABLE IF NOT EXISTS harmony_machine_details (
    id SERIAL PRIMARY KEY,
    tasks TEXT,
    layers TEXT,
    startup_time TIMESTAMP,
    miners TEXT,
    machine_id INTEGER,
    machine_name TEXT,
    version TEXT,
    FOREIGN KEY (machine_id) REFERENCES harmony_machines (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS machine_details_machine_id
    ON harmony_machine_details (machine_id);

-- 20240611-snap-pipeline.sql: the snap layers
INSERT INTO harmony_config (title, config) VALUES
    ('upgrade', '
  [Subsystems]
  EnableUpdateEncode = true
  EnableUpdateProve = true
  EnableUpdateSubmit = true
  '),
    ('upgrade-encode', '
  [Subsystems]
  EnableUpdateEncode = true
  '),
    ('upgrade-snark', '
  [Subsystems]
  EnableUpdateProve = true
  EnableUpdateSubmit = true
  ')
    ON CONFLICT (title) DO NOTHING;

-- 20240904-scrub-unseal-check.sql: seal gains a key Curio no longer has
UPDATE harmony_config SET config = config || '  EnableScrubUnsealed = true
  ' WHERE title = 'seal';

-- 20250926-harmony_config_timestamp.sql
ALTER TABLE harmony_config ADD COLUMN IF NOT EXISTS timestamp TIMESTAMP NOT NULL DEFAULT NOW();

-- 20260215-config-history.sql
CREATE TABLE IF NOT EXISTS harmony_config_history (
    id SERIAL PRIMARY KEY,
    title VARCHAR(300) NOT NULL,
    config TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_config_history_title_time
    ON harmony_config_history (title, changed_at DESC);

-- base, as `curio config new-cluster` and every start re-render it: the
-- defaults commented out (with a doc and a type line each in Curio; short
-- ones here), section headers kept, the operator's values live.
INSERT INTO harmony_config (title, config) VALUES ('base', '[Subsystems]
  # Run WindowPoSt on this node.
  # type: bool
  #EnableWindowPost = false

  # type: int
  #WindowPostMaxTasks = 0

  # type: bool
  #EnableWinningPost = false

[Fees]
  # The most a WindowPoSt message may cost.
  # type: types.FIL
  #MaxWindowPoStGasFee = "5 FIL"

  # type: bool
  #MaximizeFeeCap = true

  [Fees.MaxPreCommitBatchGasFee]
    # type: types.FIL
    #Base = "0 FIL"

    # type: types.FIL
    #PerSector = "0.02 FIL"

[[Addresses]]
  # type: []string
  #PreCommitControl = []

  # type: []string
  #CommitControl = []

  # type: bool
  #DisableOwnerFallback = false

  # type: bool
  #DisableWorkerFallback = false

  # The miner actors.
  # type: []string
  MinerAddresses = ["f01000", "f01001"]

[Proving]
  # type: int
  #ParallelCheckLimit = 32

  # type: time.Duration
  #SingleCheckTimeout = "10m0s"

  # type: time.Duration
  #PartitionCheckTimeout = "20m0s"

[Apis]
  # The Lotus nodes to follow.
  # type: []string
  ChainApiInfo = ["eyJhbGciOiJIUzI1NiJ9.chain:/ip4/10.0.0.5/tcp/1234/http"]

  # type: string
  StorageRPCSecret = "c2VjcmV0IHRoYXQgaXMgbm90IG9uZQ=="
');

-- a cluster of two nodes: one proving (base,post), one sealing (base,seal)
INSERT INTO harmony_machines (host_and_port, cpu, ram, gpu) VALUES
    ('10.0.0.11:12300', 32, 274877906944, 1),
    ('10.0.0.12:12300', 64, 549755813888, 2);
INSERT INTO harmony_machine_details (tasks, layers, startup_time, miners, machine_id, machine_name)
VALUES
    ('WdPost,WdPostSubmit,WdPostRecover,WinPost', 'base,post', NOW(), 'f01000,f01001', 1, 'post-1'),
    ('SDR,TreeD,TreeRC,PreCommitSubmit,PoRep,CommitSubmit,MoveStorage', 'base,seal', NOW(),
     'f01000,f01001', 2, 'seal-1');
