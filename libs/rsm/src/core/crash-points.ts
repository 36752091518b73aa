/**
 * Named instants inside the runtime where crash tests kill the process, so that every recovery path
 * is exercised on purpose rather than by luck.
 */
export const CRASH_POINTS = [
  'beforeCommit',
  'afterCommitBeforePublish',
  'afterPublishBeforeAck',
  'whileDraining',
  'whileTimerFires',
  'whileActivityRuns',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Called at each crash point; production leaves it unset, crash tests SIGKILL the process in it. */
export type CrashHook = (point: CrashPoint) => void;
