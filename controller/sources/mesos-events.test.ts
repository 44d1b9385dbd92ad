import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentHostnames, describeEvent, eventShapeProblem, recoveredAgentIds } from './mesos-events.js';

const id = (value: string) => ({ value });

describe('Mesos event shapes', () => {
  it('accepts every well-formed known event and any unknown type', () => {
    for (const ev of [
      { type: 'SUBSCRIBED', subscribed: { get_state: {}, heartbeat_interval_seconds: 15 } },
      { type: 'SUBSCRIBED', subscribed: {} },
      { type: 'HEARTBEAT' },
      { type: 'TASK_ADDED', task_added: { task: { task_id: id('t'), framework_id: id('f') } } },
      { type: 'TASK_UPDATED', task_updated: { framework_id: id('f'), status: { task_id: id('t') }, state: 'TASK_RUNNING' } },
      { type: 'TASK_UPDATED', task_updated: { framework_id: id('f'), status: { task_id: id('t') } } },
      { type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { id: id('a'), hostname: 'h' } } } },
      { type: 'AGENT_REMOVED', agent_removed: { agent_id: id('a') } },
      { type: 'FRAMEWORK_ADDED', framework_added: { framework: { framework_info: { id: id('f'), name: 'x' } } } },
      { type: 'FRAMEWORK_UPDATED', framework_updated: { framework: { framework_info: { id: id('f') } } } },
      { type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { id: id('f') } } },
      { type: 'SOMETHING_NEW', whatever: 1 },
    ]) assert.equal(eventShapeProblem(ev), undefined, JSON.stringify(ev));
  });

  it('names what is missing or mistyped', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'record is not a JSON object'],
      [[], 'record is not a JSON object'],
      [{ type: 5 }, 'record has no string "type"'],
      [{ type: 'SUBSCRIBED' }, 'SUBSCRIBED record without a "subscribed" object'],
      [{ type: 'SUBSCRIBED', subscribed: { get_state: [] } }, 'SUBSCRIBED record without an object "get_state"'],
      [{ type: 'SUBSCRIBED', subscribed: { heartbeat_interval_seconds: '15' } }, 'SUBSCRIBED record without a positive number heartbeat_interval_seconds'],
      [{ type: 'SUBSCRIBED', subscribed: { heartbeat_interval_seconds: 0 } }, 'SUBSCRIBED record without a positive number heartbeat_interval_seconds'],
      [{ type: 'TASK_ADDED', task_added: { task: { task_id: { value: 1 }, framework_id: id('f') } } }, 'TASK_ADDED record without task_added.task.task_id.value and framework_id.value strings'],
      [{ type: 'TASK_UPDATED', task_updated: { framework_id: id('f'), status: {} } }, 'TASK_UPDATED record without task_updated.framework_id.value and status.task_id.value strings'],
      [{ type: 'TASK_UPDATED', task_updated: { framework_id: id('f'), status: { task_id: id('t') }, state: 3 } }, 'TASK_UPDATED record without a string task_updated.state'],
      [{ type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { id: id('a'), hostname: 7 } } } }, 'AGENT_ADDED record without a string agent_info.hostname'],
      [{ type: 'AGENT_REMOVED', agent_removed: {} }, 'AGENT_REMOVED record without agent_removed.agent_id.value string'],
      [{ type: 'FRAMEWORK_ADDED', framework_added: {} }, 'FRAMEWORK_ADDED record without framework_added.framework.framework_info.id.value string'],
      [{ type: 'FRAMEWORK_UPDATED' }, 'FRAMEWORK_UPDATED record without framework_updated.framework.framework_info.id.value string'],
      [{ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: {} } }, 'FRAMEWORK_REMOVED record without framework_removed.framework_info.id.value string'],
    ];
    for (const [ev, msg] of cases) assert.equal(eventShapeProblem(ev), msg);
  });
});

describe('Mesos event facts', () => {
  const subscribed = {
    type: 'SUBSCRIBED',
    subscribed: { get_state: { get_agents: {
      agents: [{ agent_info: { id: id('S0'), hostname: 'a0.example' } }, { agent_info: { id: id('S1') } }],
      recovered_agents: [{ id: id('S0'), hostname: 'a0.example' }, { id: id('S2'), hostname: 'a2' }],
    } } },
  };

  it('lists the agent hostnames an event brings', () => {
    assert.deepEqual(agentHostnames(subscribed), ['a0.example']);
    assert.deepEqual(agentHostnames({ type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { id: id('S3'), hostname: 'a3' } } } }), ['a3']);
    assert.deepEqual(agentHostnames({ type: 'TASK_ADDED' }), []);
  });

  it('lists recovered agents that are not also registered', () => {
    assert.deepEqual(recoveredAgentIds(subscribed), ['S2']);
    assert.deepEqual(recoveredAgentIds({ type: 'SUBSCRIBED', subscribed: {} }), []);
  });

  it('describes events for debug lines', () => {
    assert.deepEqual(describeEvent({ type: 'TASK_UPDATED', task_updated: { state: 'TASK_RUNNING', status: { task_id: id('t') } } }), { type: 'TASK_UPDATED', task: 't', state: 'TASK_RUNNING' });
    assert.deepEqual(describeEvent({ type: 'FRAMEWORK_ADDED', framework_added: { framework: { framework_info: { id: id('f'), name: 'kafka' } } } }), { type: 'FRAMEWORK_ADDED', framework: 'f', name: 'kafka' });
    assert.deepEqual(describeEvent({}), { type: '?' });
  });
});
