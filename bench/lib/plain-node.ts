/**
 * Imported first by every benchmark process: measure the library as users
 * run it, under plain `node`. The tsx loader that runs the harness turns
 * source maps on (`process.setSourceMapsEnabled(true)`), which makes every
 * read of an error's `stack` map each frame through the loaded source maps:
 * gRPC reads the stack of every failed etcd call, so under load an enroller
 * on etcd spent some 4% of its CPU there (a profile of the scale scenario).
 *
 * @module
 */
process.setSourceMapsEnabled(false);
