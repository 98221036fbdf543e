/** Where commands write; tests and the root command share it. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Output bound to the process streams. */
export const processOutput: Output = {
  out: (text) => {
    process.stdout.write(text);
  },
  err: (text) => {
    process.stderr.write(text);
  },
};

/** Message of an unknown thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
