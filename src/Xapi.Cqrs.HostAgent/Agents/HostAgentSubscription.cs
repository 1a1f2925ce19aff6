using JasperFx.Events;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Marten.Subscriptions;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// The host agents' view of the log: Marten's daemon delivers events in commit order from a durable
/// checkpoint, only up to the high-water mark (so an event committed late is never skipped). Work for a
/// host this process runs is handed to that host's agent; agents make every effect idempotent. In the
/// common case the agent already has the work, handed on right after its commit (LocalAgents.OnCommitted).
/// </summary>
public sealed class HostAgentSubscription : SubscriptionBase
{
    private readonly LocalAgents agents;

    public HostAgentSubscription(LocalAgents agents)
    {
        this.agents = agents;
        Name = "host-agents";
        IncludeType<ScheduledToBeResidentOnSet>();
        IncludeType<OperationAdded>(); // unpause, hard_shutdown
    }

    public override Task<IChangeListener> ProcessEventsAsync(EventRange page, ISubscriptionController controller, IDocumentOperations operations, CancellationToken cancellationToken)
    {
        foreach (var e in page.Events)
        {
            if (AgentWork.From(e) is { } work)
            {
                agents.Dispatch(work);
            }
        }

        return Task.FromResult(NullChangeListener.Instance);
    }
}

/// <summary>Work the log asks of a host agent.</summary>
public abstract record AgentWork(Guid VmId, Guid TaskId, string? CorrelationId)
{
    /// <summary>The work an event of the log asks for, if any.</summary>
    public static AgentWork? From(IEvent e) => e.Data switch
    {
        ScheduledToBeResidentOnSet s => new Start(e.StreamId, s.TaskId, s.HostId, s.StartPaused, e.CorrelationId),
        OperationAdded { ObjectClass: "VM", Operation: "unpause" } u => new Unpause(e.StreamId, u.TaskId, e.CorrelationId),
        OperationAdded { ObjectClass: "VM", Operation: "hard_shutdown" } h => new HardShutdown(e.StreamId, h.TaskId, e.CorrelationId),
        _ => null,
    };

    /// <summary>Start the VM's domain. Recovered: found open at service start, not delivered by the log.</summary>
    public sealed record Start(Guid VmId, Guid TaskId, Guid HostId, bool Paused, string? CorrelationId, bool Recovered = false) : AgentWork(VmId, TaskId, CorrelationId);

    public sealed record Unpause(Guid VmId, Guid TaskId, string? CorrelationId) : AgentWork(VmId, TaskId, CorrelationId);

    public sealed record HardShutdown(Guid VmId, Guid TaskId, string? CorrelationId) : AgentWork(VmId, TaskId, CorrelationId);

    /// <summary>The VM is recorded Running/Paused here but the hypervisor has no domain for it.</summary>
    public sealed record DomainVanished(Guid VmId, Guid HostId) : AgentWork(VmId, VmId, null);
}
