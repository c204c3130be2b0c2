/**
 * @serval/client (being built).
 *
 * @module
 */

export {};
