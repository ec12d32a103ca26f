import closeWithGrace from "close-with-grace";
import { assertEngineAvailable, composeService, StartupError } from "./compose.js";
import { ConfigError, loadConfig } from "./config.js";
import { LandingZoneError, loadLandingZone } from "./onboarding/landing-zone.js";
import { createLogger } from "./logger.js";
import { openDb } from "./store/open.js";

/** Composition root: config → landing zone → store → service → listen; graceful drain on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.LOG_LEVEL);
  assertEngineAvailable(config);
  const landingZone = await loadLandingZone(config.LANDING_ZONE_FILE);
  const db = await openDb({
    dataDir: config.DATA_DIR,
    databaseUrl: config.DATABASE_URL,
    onError: (err) => logger.error({ err }, "store background error"),
  });
  const service = await composeService({ config, landingZone, db, logger });
  await service.start();
  await service.app.listen({ port: config.PORT, host: config.HOST });
  logger.info(
    { database: db.description, engine: service.engine.name, concurrency: config.MAX_CONCURRENT_OPERATIONS },
    config.ENGINE === "simulated" ? "engine: simulated — programs run under Pulumi mocks, nothing is created in AWS" : "ready",
  );

  closeWithGrace({ delay: (config.SHUTDOWN_GRACE_SECONDS + 5) * 1000 }, async ({ signal, err }) => {
    if (err) logger.error({ err }, "fatal error; shutting down");
    else logger.info({ signal }, "shutting down: draining running operations");
    await service.close(config.SHUTDOWN_GRACE_SECONDS * 1000);
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError || err instanceof LandingZoneError) {
    for (const line of err.message.split("\n")) console.error(`saas-bridge: ${line}`);
  } else {
    console.error("saas-bridge: start-up failed:", err);
  }
  process.exit(1);
});
