// Starts tplink-smarthome-simulator devices on loopback for the tests.
// argv[2]: JSON {"udpPort": N, "devices": [{"address", "port", "model", "data"}]}.
// Prints "ready" once every device listens; exits when stdin closes.
const { Device, UdpServer } = require('tplink-smarthome-simulator');

async function main() {
  const spec = JSON.parse(process.argv[2]);
  await UdpServer.start({ port: spec.udpPort });
  const devices = spec.devices.map((d) => new Device(d));
  for (const d of devices) await d.start();
  console.log('ready');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
main().catch((err) => { console.error(err); process.exit(1); });
