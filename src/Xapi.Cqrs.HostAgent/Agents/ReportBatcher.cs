using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Application.Vms;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// The agents' group commit: the "started" reports of one host that are ready while the previous commit of that
/// host runs are committed together in the next one (<see cref="ReportStart.StartedMany"/>), so a boot storm pays
/// one transaction and one host lock for many VMs. Nothing waits on a timer: an idle host commits each report at
/// once. If a group cannot be committed, each report is committed on its own, so one bad report fails alone.
/// </summary>
public sealed class ReportBatcher(IServiceScopeFactory scopes, ILogger<ReportBatcher> log)
{
    public const int MaxGroup = 64;

    private readonly ConcurrentDictionary<Guid, Channel<Pending>> hosts = new();

    public Task SubmitAsync(ReportStart.Started report, EventMetadata caller, CancellationToken ct)
    {
        var pending = new Pending(report, caller);
        var queue = hosts.GetOrAdd(report.HostId, id =>
        {
            var channel = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
            _ = Task.Run(() => RunAsync(id, channel.Reader));
            return channel;
        });
        queue.Writer.TryWrite(pending);
        return pending.Done.Task.WaitAsync(ct);
    }

    /// <summary>Reports waiting in each host's queue (metrics).</summary>
    public IEnumerable<(Guid Host, long Depth)> Depths() => hosts.Select(h => (h.Key, (long)h.Value.Reader.Count));

    /// <summary>No more reports (the service stops): each host's loop ends once its queue is empty.</summary>
    public void Complete()
    {
        foreach (var queue in hosts.Values)
        {
            queue.Writer.TryComplete();
        }
    }

    private async Task RunAsync(Guid hostId, ChannelReader<Pending> reader)
    {
        var group = new List<Pending>(MaxGroup);
        while (await reader.WaitToReadAsync())
        {
            group.Clear();
            while (group.Count < MaxGroup && reader.TryRead(out var next))
            {
                group.Add(next);
            }

            try
            {
                await new AgentCommands(scopes, group[0].Caller).Send(new ReportStart.StartedMany(hostId, [.. group.Select(p => (p.Report, p.Caller))]), CancellationToken.None);
                group.ForEach(p => p.Done.TrySetResult());
            }
            catch (Exception e) when (group.Count > 1)
            {
                log.LogDebug(e, "a group of {Count} start reports for host {Host} could not be committed together; committing each alone", group.Count, hostId);
                foreach (var p in group)
                {
                    try
                    {
                        await new AgentCommands(scopes, p.Caller).Send(p.Report, CancellationToken.None);
                        p.Done.TrySetResult();
                    }
                    catch (Exception alone)
                    {
                        p.Done.TrySetException(alone);
                    }
                }
            }
            catch (Exception e)
            {
                group.ForEach(p => p.Done.TrySetException(e));
            }
        }
    }

    private sealed record Pending(ReportStart.Started Report, EventMetadata Caller)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
