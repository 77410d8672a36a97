// Preloaded into MCP servers under test (`node --require`): a server that
// listens on every interface listens on 127.0.0.1 instead.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  if (typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port))) {
    const done = rest.find((a) => typeof a === 'function');
    return done ? listen.call(this, Number(port), '127.0.0.1', done) : listen.call(this, Number(port), '127.0.0.1');
  }
  return listen.apply(this, [port, ...rest]);
};
