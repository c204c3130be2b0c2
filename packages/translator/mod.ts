/**
 * @serval/translator (being built).
 *
 * @module
 */

export {};
