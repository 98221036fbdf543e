/** Runs the broker and presence contract suites against the in-memory implementations. */
import { createBroker, createPresenceManager } from '../src/brokers/index.js';
import { runBrokerContract } from './contracts/broker-contract.js';
import { runPresenceContract } from './contracts/presence-contract.js';

runBrokerContract('memory', async () => ({ broker: createBroker('memory') }), { reliableOrdering: true });
runPresenceContract('memory', async () => ({ presence: createPresenceManager('memory') }));
