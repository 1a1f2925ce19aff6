using JasperFx.Events;
using Marten.Events.Aggregation;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Projections;

/// <summary>
/// Keeps a domain state as the stream's snapshot document. The domain stays free of Marten: each state
/// has a pure <c>Start(event)</c> and <c>Evolve(event)</c>; this class only hands events to them.
/// The same projection serves FetchForWriting (write side) and the read model (read side).
/// </summary>
public abstract class StateProjection<T>(Func<object, T?> start, Func<T, object, T> evolve) : SingleStreamProjection<T, Guid>, IStartedByEvent
    where T : class
{
    public override T? Evolve(T? snapshot, Guid id, IEvent e) =>
        snapshot is null ? start(e.Data) : evolve(snapshot, e.Data);

    public bool Starts(object data) => start(data) is not null;
}

/// <summary>
/// A single-stream projection whose document exists only from an event that starts it: a stream none of whose events
/// so far started one holds no document, so a rebuild need not hand it that stream's other events.
/// </summary>
public interface IStartedByEvent
{
    /// <summary>Whether this event, first of its kind in a stream with no document yet, creates the document.</summary>
    bool Starts(object data);
}

public sealed class VmProjection() : StateProjection<Vm>(Vm.Start, (s, e) => s.Evolve(e));

public sealed class HostProjection() : StateProjection<Host>(Host.Start, (s, e) => s.Evolve(e));

public sealed class VbdProjection() : StateProjection<Vbd>(Vbd.Start, (s, e) => s.Evolve(e));

public sealed class VifProjection() : StateProjection<Vif>(Vif.Start, (s, e) => s.Evolve(e));

public sealed class TaskProjection() : StateProjection<XapiTask>(XapiTask.Start, (s, e) => s.Evolve(e));

public sealed class VdiProjection() : StateProjection<Vdi>(Vdi.Start, (s, e) => s.Evolve(e));

public sealed class SrProjection() : StateProjection<Sr>(Sr.Start, (s, e) => s.Evolve(e));

public sealed class NetworkProjection() : StateProjection<Network>(Network.Start, (s, e) => s.Evolve(e));
