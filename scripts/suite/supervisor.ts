import { promisify } from 'node:util';
import type { Proc, ProcessDescription, StartOptions } from 'pm2';
import { usePm2Home } from './config.js';

/** The process manager (PM2): it keeps each app running and restarts one that dies, as a pod would be. */
export interface Supervisor {
  start(options: StartOptions): Promise<void>;
  list(): Promise<ProcessDescription[]>;
  remove(name: string): Promise<void>;
  stopDaemon(): Promise<void>;
  disconnect(): void;
}

/** Connects to (or starts) the PM2 daemon whose home is inside the run directory. */
export async function connectSupervisor(): Promise<Supervisor> {
  usePm2Home();
  const { default: pm2 } = await import('pm2');
  await promisify(pm2.connect.bind(pm2))();
  return {
    start: async (options) => void (await promisify<StartOptions, Proc>(pm2.start.bind(pm2))(options)),
    list: () => promisify(pm2.list.bind(pm2))(),
    remove: async (name) => void (await promisify<string, Proc>(pm2.delete.bind(pm2))(name)),
    stopDaemon: async () => void (await promisify(pm2.killDaemon.bind(pm2))()),
    disconnect: () => pm2.disconnect(),
  };
}

/** The PM2 process name of a suite app in a stack. */
export const processName = (stack: string, service: string) => `${stack}-${service}`;
