export const DRONE_SIM_CONFIG = Symbol('DRONE_SIM_CONFIG');
