/** The environment `npm run bench:suite` hands on to `npm start` (PATH, and FLEET_SIZE and leg lengths when set). */
export const inheritedEnv: NodeJS.ProcessEnv = { ...process.env };
