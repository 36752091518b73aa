/** The environment the chaos tools hand on to the processes they start (PATH and the like). */
export const inheritedEnv: NodeJS.ProcessEnv = { ...process.env };
