// Device names. Users may write 'cuda' or 'cuda-sim'; tensors always report the canonical name
// the addon uses ('cpu', 'cuda:0', 'cuda-sim:0') so that device equality is string equality.
import { addon, type DeviceEntry } from './native.js';
import { AdvpropError } from './errors.js';

export type DeviceName = string;

export function devices(): DeviceEntry[] {
  return addon.devices();
}

/** 'cuda' → 'cuda:0', 'cuda-sim' → 'cuda-sim:0'; anything not a string throws ERR_DEVICE. */
export function canonicalDevice(device: unknown, op = 'device'): string {
  if (typeof device !== 'string')
    throw new AdvpropError('ERR_DEVICE', `${op}: device must be a string such as 'cpu', 'cuda' or 'cuda-sim', got ${describeValue(device)}`);
  if (device === 'cuda' || device === 'cuda-sim') return `${device}:0`;
  if (device === 'cpu:0') return 'cpu';
  return device;
}

/** The entry for a device, or an ERR_DEVICE naming why it cannot be used. */
export function requireDevice(device: unknown, op = 'device'): DeviceEntry {
  const name = canonicalDevice(device, op);
  const all = devices();
  const entry = all.find((d) => d.device === name);
  if (!entry) {
    // An unavailable backend is listed once, as index 0; name it in the message.
    const type = name.split(':')[0];
    const sameType = all.find((d) => d.type === type);
    if (sameType && !sameType.available)
      throw new AdvpropError('ERR_DEVICE', `${op}: device '${name}' is unavailable: ${sameType.reason}`);
    throw new AdvpropError('ERR_DEVICE', `${op}: unknown device '${String(device)}' (available: ${all.filter((d) => d.available).map((d) => d.device).join(', ')})`);
  }
  if (!entry.available) throw new AdvpropError('ERR_DEVICE', `${op}: device '${name}' is unavailable: ${entry.reason}`);
  return entry;
}

let chosenDefault: string | null = null;

/** cuda if a GPU is usable, else cpu; ADVPROP_DEVICE overrides; setDefaultDevice overrides both. */
export function defaultDevice(): string {
  if (chosenDefault) return chosenDefault;
  const env = process.env.ADVPROP_DEVICE;
  if (env) {
    chosenDefault = requireDevice(env, 'ADVPROP_DEVICE').device;
  } else {
    const cuda = devices().find((d) => d.type === 'cuda' && d.available);
    chosenDefault = cuda ? cuda.device : 'cpu';
  }
  return chosenDefault;
}

export function setDefaultDevice(device: string | null): void {
  chosenDefault = device === null ? null : requireDevice(device, 'setDefaultDevice').device;
}

/** A value inside a message: numbers and bigints as they are, anything else described (never a
 * conversion that could throw, as String() does for symbols and null-prototype objects). */
export function showValue(v: unknown): string {
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : describeValue(v);
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  if (typeof v === 'string') return `'${v}'`;
  return `${typeof v} ${String(v)}`;
}
