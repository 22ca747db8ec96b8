// Which devices ap.cudaGraph.capture is recording (lib/cuda_graph.ts): ops consult it to skip
// what a capture cannot do (a read-back to check values) or would not repeat (an explicit key).
const capturing = new Set<string>();

/** Whether `device` (a canonical name) is being captured. */
export function isCapturing(device: string): boolean {
  return capturing.has(device);
}

/** Whether any device is being captured. */
export function anyCapturing(): boolean {
  return capturing.size > 0;
}

export function setCapturing(device: string, on: boolean): void {
  if (on) capturing.add(device);
  else capturing.delete(device);
}
