import pino, { type DestinationStream, type Logger } from "pino";

/** Paths never written to logs: credentials in headers, and secret-looking fields anywhere one level down. */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  "headers.authorization",
  "*.password",
  "*.passphrase",
  "*.secret",
  "*.token",
  "*.apiKey",
  "*.privateKey",
  "*.keyStorePassword",
  "*.grantToken",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, destination);
}
