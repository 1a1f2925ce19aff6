using JasperFx.Events;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Marten.Subscriptions;
using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Tasks;
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

    public HostAgentSubscription(LocalAgents agents, AgentSettings settings)
    {
        this.agents = agents;
        Name = settings.SubscriptionName;
        IncludeType<ScheduledToBeResidentOnSet>();
        IncludeType<OperationAdded>(); // unpause and the power operations
        IncludeType<TaskCancelled>(); // an operation overtaken: its running work stops
        IncludeType<DeviceOperationForwarded>(); // VBD and VIF plug/unplug
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
    /// <summary>The trace context of the command that asked for this work (the event's "traceparent" header), if it was traced.</summary>
    public string? TraceParent { get; init; }

    /// <summary>The work an event of the log asks for, if any, carrying the trace of the command that asked.</summary>
    public static AgentWork? From(IEvent e)
    {
        var work = Of(e);
        return work is not null && e.Headers?.TryGetValue(Application.Store.ActorSessionFactory.TraceHeader, out var trace) == true
            && trace?.ToString() is { Length: > 0 } parent
            ? work with { TraceParent = parent }
            : work;
    }

    private static AgentWork? Of(IEvent e) => e.Data switch
    {
        ScheduledToBeResidentOnSet s => new Start(e.StreamId, s.TaskId, s.HostId, s.StartPaused, e.CorrelationId),
        OperationAdded { ObjectClass: "VM" } o when VmOperations.TryParse(o.Operation, out var op) && IsPower(op)
            => new Power(e.StreamId, o.TaskId, op, e.CorrelationId),
        TaskCancelled => new Cancel(e.StreamId),
        DeviceOperationForwarded f => new Device(f.VmId, f.TaskId, e.StreamId, f.ObjectClass, f.Operation, f.HostId, e.CorrelationId),
        _ => null,
    };

    /// <summary>Start the VM's domain. Recovered: found open at service start, not delivered by the log.</summary>
    public sealed record Start(Guid VmId, Guid TaskId, Guid HostId, bool Paused, string? CorrelationId, bool Recovered = false) : AgentWork(VmId, TaskId, CorrelationId);

    /// <summary>The operations <see cref="PowerSequence"/> carries out on the VM's resident host.</summary>
    public static bool IsPower(VmOperation op) => Application.Vms.PowerOperationVm.Operations.Contains(op);

    /// <summary>Pause, unpause, clean/hard shutdown, clean/hard reboot of the VM on its resident host.</summary>
    public sealed record Power(Guid VmId, Guid TaskId, VmOperation Operation, string? CorrelationId) : AgentWork(VmId, TaskId, CorrelationId);

    /// <summary>Plug or unplug of a VBD or VIF (<paramref name="ObjectClass"/>) of the VM on its resident host (<see cref="DeviceSequence"/>).</summary>
    public sealed record Device(Guid VmId, Guid TaskId, Guid DeviceId, string ObjectClass, string Operation, Guid HostId, string? CorrelationId)
        : AgentWork(VmId, TaskId, CorrelationId);

    /// <summary>A device plug or unplug (<paramref name="OpenTask"/>) open past its deadline: its work stopped, then finished or rolled back.</summary>
    public sealed record DeviceDeadline(Guid VmId, Guid OpenTask, Guid DeviceId, string ObjectClass, string Operation, Guid HostId, TimeSpan Deadline)
        : AgentWork(VmId, Guid.NewGuid(), null);

    /// <summary>The task was cancelled (overtaken): its running work, if any, stops. Not queued.</summary>
    public sealed record Cancel(Guid CancelledTask) : AgentWork(Guid.Empty, CancelledTask, null);

    /// <summary>The VM's domain stopped by itself: follow its actions_after_*.</summary>
    public sealed record GuestStopped(Guid VmId, Guid HostId, long Domid, string Reason) : AgentWork(VmId, Guid.NewGuid(), null);

    /// <summary>A domain the VM's record does not account for (no open start, the VM not resident here, or still marked poweroff): destroyed.</summary>
    public sealed record Orphan(Guid VmId, Guid HostId, bool VmResidentHere) : AgentWork(VmId, Guid.NewGuid(), null);

    /// <summary>An operation open past its deadline: finished or rolled back by this agent.</summary>
    public sealed record Abandon(Guid VmId, Guid OpenTask, Guid HostId, TimeSpan Deadline) : AgentWork(VmId, Guid.NewGuid(), null);

    /// <summary>The VM is recorded Running/Paused here but the hypervisor has no domain for it.</summary>
    public sealed record DomainVanished(Guid VmId, Guid HostId) : AgentWork(VmId, VmId, null);
}
