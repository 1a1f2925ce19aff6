using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Xapi.Cqrs.Application.Telemetry;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// The gauge <c>xapi.agent.queue.depth</c> {host, queue}: work handed to a host's agent and not finished yet
/// (<c>work</c>: waiting for its VM's turn or a worker, or running), and host reports waiting to be committed
/// (<c>reports</c>, the <see cref="ReportBatcher"/>'s queue). Every agent set of the process registers its counts here.
/// Work that names no host (a power operation, whose host the agent reads when it runs) counts under host "unresolved".
/// </summary>
public static class AgentQueues
{
    private static readonly ConcurrentDictionary<object, Func<IEnumerable<(Guid Host, string Queue, long Depth)>>> Sources = new();

    static AgentQueues() =>
        XapiTelemetry.Meter.CreateObservableGauge("xapi.agent.queue.depth", Read, "{item}",
            "Work queued or running at a host's agent (queue=work) and host reports waiting to be committed (queue=reports), by host");

    public static void Register(object owner, Func<IEnumerable<(Guid Host, string Queue, long Depth)>> read) => Sources[owner] = read;

    public static void Unregister(object owner) => Sources.TryRemove(owner, out _);

    private static IEnumerable<Measurement<long>> Read() =>
        Sources.Values.SelectMany(s => s()).Select(d => new Measurement<long>(d.Depth,
            new KeyValuePair<string, object?>("host", d.Host == Guid.Empty ? "unresolved" : d.Host.ToString()),
            new KeyValuePair<string, object?>("queue", d.Queue)));
}
