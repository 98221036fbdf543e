/** Sets a map entry, defining `__proto__` as an own key instead of changing the map's prototype. */
export function setEntry<T>(map: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}
