// The signal the browser tests and performance budget wait for: the first page has rendered its
// data. Once per page load, whichever route came first.

let marked = false;

export function markReady(): void {
  if (marked) return;
  marked = true;
  document.documentElement.dataset.ready = "true";
  performance.mark("console-interactive");
}
