using JasperFx.Events.Projections;
using Marten;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Projections.Messages;
using Xapi.Cqrs.Projections.Operations;
using Xapi.Cqrs.Projections.Snapshots;

namespace Xapi.Cqrs.Projections;

/// <summary>A projection as the admin API shows it: name, class, the documents it writes, inline or async, version.</summary>
public sealed record ProjectionInfo(string Name, Type Projection, IReadOnlyList<Type> Documents, ProjectionLifecycle Lifecycle, int Version)
{
    /// <summary>The table of a document type, as Marten names it (mt_doc_ and the type's name in lower case).</summary>
    public static string TableOf(Type document) => "mt_doc_" + document.Name.ToLowerInvariant();
}

/// <summary>
/// Every read model and how it is kept. The object states (VM, VBD, VIF, host, task, VDI, SR, network), the
/// messages and the open operations are inline: updated in the command's own transaction, so a client that has a
/// command's answer reads its effect (read-your-writes), and the states double as the write side's aggregates. The
/// as-of snapshots are async (the daemon keeps them; nothing on the command path waits). All are rebuildable from the log.
/// </summary>
public static class XapiProjections
{
    /// <summary>
    /// Every projection by the name GET /api/admin/projections shows and POST …/{name}/rebuild takes: its class, the
    /// documents it writes, how it is kept, and its version (raise it when the projection's code changes what it builds).
    /// </summary>
    public static readonly IReadOnlyList<ProjectionInfo> All =
    [
        new("vm", typeof(VmProjection), [typeof(Vm)], ProjectionLifecycle.Inline, 1),
        new("host", typeof(HostProjection), [typeof(Host)], ProjectionLifecycle.Inline, 1),
        new("vbd", typeof(VbdProjection), [typeof(Vbd)], ProjectionLifecycle.Inline, 1),
        new("vif", typeof(VifProjection), [typeof(Vif)], ProjectionLifecycle.Inline, 1),
        new("task", typeof(TaskProjection), [typeof(XapiTask)], ProjectionLifecycle.Inline, 1),
        new("vdi", typeof(VdiProjection), [typeof(Vdi)], ProjectionLifecycle.Inline, 1),
        new("sr", typeof(SrProjection), [typeof(Sr)], ProjectionLifecycle.Inline, 1),
        new("network", typeof(NetworkProjection), [typeof(Network)], ProjectionLifecycle.Inline, 1),
        new("message", typeof(MessageProjection), [typeof(MessageView)], ProjectionLifecycle.Inline, 1),
        new("operations", typeof(OpenOperationsProjection), [typeof(OpenOperation)], ProjectionLifecycle.Inline, 1),
        new(StateSnapshotProjection.Name, typeof(StateSnapshotProjection), [typeof(VmSnapshot), typeof(HostSnapshot)], ProjectionLifecycle.Async, 1),
    ];

    /// <param name="opts">The store's options.</param>
    /// <param name="asyncProjections">
    /// False in a host agent process: it applies the inline projections (it appends events) but never runs the async ones,
    /// which only the service's HotCold daemon runs; their documents' tables are still described.
    /// </param>
    public static void Configure(StoreOptions opts, bool asyncProjections = true)
    {
        opts.Projections.Add(new VmProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add(new HostProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add(new VbdProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add(new VifProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add(new TaskProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add(new VdiProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add(new SrProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add(new NetworkProjection(), ProjectionLifecycle.Inline);
        opts.Projections.Add<MessageProjection>(ProjectionLifecycle.Inline);
        opts.Projections.Add<OpenOperationsProjection>(ProjectionLifecycle.Inline);

        // Async: the as-of snapshots. No command reads them, so nothing waits for them; an as-of read folds from an earlier
        // snapshot (or the stream's start) when the daemon has not written the latest yet.
        if (asyncProjections)
        {
            opts.Projections.Add(new StateSnapshotProjection(), ProjectionLifecycle.Async, StateSnapshotProjection.Name);
        }

        opts.Schema.For<VmSnapshot>().Duplicate(x => x.StreamId).Duplicate(x => x.Version).Duplicate(x => x.At);
        opts.Schema.For<HostSnapshot>().Duplicate(x => x.StreamId).Duplicate(x => x.Version).Duplicate(x => x.At);

        opts.Schema.For<Vm>().Duplicate(x => x.NameLabel);
        opts.Schema.For<Vbd>().Duplicate(x => x.VmId);
        opts.Schema.For<Vif>().Duplicate(x => x.VmId);
        opts.Schema.For<XapiTask>().Duplicate(x => x.ObjectId);
        opts.Schema.For<MessageView>().Duplicate(x => x.ObjUuid);
    }
}
