// The engine process: read the configuration, make the logger, start the
// Engine (engine.ts) and wire the signals. SIGUSR2 writes a snapshot;
// SIGTERM and SIGINT stop accepting, answer and flush everything in flight,
// drain the log into SQLite and exit 0 (1 after a fatal error).

import pino from 'pino';
import { ConfigError, helpText, parseConfig, type EngineConfig } from './config';
import { Engine, StartupError } from './engine';
import { SaleDefinitionError } from './sale-definition';

export async function main(argv: readonly string[]): Promise<void> {
  let config: EngineConfig | null;
  try {
    config = parseConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`flash-sale engine: ${error.message}\n`);
    process.exit(2);
  }
  if (config === null) {
    process.stdout.write(helpText());
    return;
  }
  const log = pino({ level: config.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
  const engine = new Engine(config, log);
  void engine.stopped.then((exitCode) => {
    log.flush();
    process.exit(exitCode);
  });
  try {
    await engine.start();
  } catch (error) {
    if (error instanceof SaleDefinitionError || error instanceof StartupError) {
      log.fatal(error.message);
      process.stderr.write(`flash-sale engine: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  process.on('SIGTERM', () => void engine.stop('SIGTERM'));
  process.on('SIGINT', () => void engine.stop('SIGINT'));
  process.on('SIGUSR2', () => void engine.snapshots.request()
    .catch((error: Error) => log.error({ err: error }, 'snapshot failed')));
}
