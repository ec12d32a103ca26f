import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareEngine } from "../../../src/engine/factory.js";
import type { ChildEngine } from "../../../src/engine/process/child-engine.js";
import { createLogger } from "../../../src/logger.js";
import { createTestDb } from "../../helpers/db.js";
import { testConfig } from "../../helpers/service.js";

/**
 * Run by test/engine/engine-close.test.ts in a process of its own: a child engine with a warm spare is
 * closed when nothing else keeps the event loop alive (a host whose server and database are already
 * closed). It prints "closed" only if close() returned; exit code 13 means Node gave up on the pending await.
 */
const dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-close-alone-"));
const config = { ...testConfig, DATA_DIR: dataDir, ENGINE_PROCESS: "child" as const, ENGINE_WARM_CHILDREN: 1 };
const factory = await prepareEngine(config, createLogger("silent"));
const db = await createTestDb();
const engine = factory(db, createLogger("silent")) as ChildEngine;
await engine.ready?.();
// The spare is started and parked (unreferenced, so an idle spare never keeps a host alive).
await new Promise((resolve) => setTimeout(resolve, 1_500));
await db.close();
process.stdout.write("closing\n");
await engine.close();
process.stdout.write("closed\n");
await rm(dataDir, { recursive: true, force: true });
