import type { FastifyInstance } from "fastify";
import { AppError } from "../errors.js";
import { lowSpaceText, type DiskSpace } from "../store/disk-space.js";
import { insufficientStorageDetail } from "./problem.js";

/** Methods that only read: never refused for lack of space (OPTIONS: CORS preflights). */
const READS = new Set(["GET", "HEAD", "OPTIONS"]);
/**
 * Changes that stop work rather than start it, a row or two each: an operator in a disk emergency must
 * still be able to cancel what is queued or running, and to reject what waits for approval.
 */
const STOPS = new Set([
  "/v1/operations/:id/cancel",
  "/v1/operations/:id/reject",
  "/v1/rollouts/:id/pause",
  "/v1/rollouts/:id/cancel",
  "/v1/rollouts/:id/reject",
]);

/**
 * While the disk the service writes to is below DISK_MIN_FREE_MB, every change under /v1 is refused with
 * a 507 naming the directory and the numbers, before anything is written; reads, cancels and rejections go
 * on (issue 14). At
 * preValidation: after authentication (an anonymous caller learns nothing of the disk) and the
 * per-principal limit. The reading is cached (DISK_CACHE_MS), so a burst does not stat the disk per request.
 */
export function registerStorageGuard(app: FastifyInstance, storage: DiskSpace): void {
  app.addHook("preValidation", async (request) => {
    if (READS.has(request.method) || request.is404 || !request.url.startsWith("/v1/") || STOPS.has(request.routeOptions.url ?? "")) return;
    const status = await storage.status();
    if (status.low !== undefined) {
      throw new AppError("INSUFFICIENT_STORAGE", insufficientStorageDetail(lowSpaceText(status.low, status.minFreeBytes)));
    }
  });
}
