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

/// <summary>
/// Every read model and how it is kept. The object states (VM, VBD, VIF, host, task, VDI, SR, network)
/// are inline snapshots of their streams: updated in the command's own transaction, so a client that
/// has a command's answer reads its effect (read-your-writes). All are rebuildable from the log.
/// </summary>
public static class XapiProjections
{
    /// <summary>Names as shown by GET /api/admin/projections and accepted by its rebuild call.</summary>
    public static readonly IReadOnlyDictionary<string, Type> ByName = new Dictionary<string, Type>
    {
        ["vm"] = typeof(Vm),
        ["host"] = typeof(Host),
        ["vbd"] = typeof(Vbd),
        ["vif"] = typeof(Vif),
        ["task"] = typeof(XapiTask),
        ["vdi"] = typeof(Vdi),
        ["sr"] = typeof(Sr),
        ["network"] = typeof(Network),
        ["message"] = typeof(MessageView),
        ["operations"] = typeof(OpenOperation),
    };

    public static void Configure(StoreOptions opts)
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
        opts.Projections.Add(new StateSnapshotProjection(), ProjectionLifecycle.Async, StateSnapshotProjection.Name);
        opts.Schema.For<VmSnapshot>().Duplicate(x => x.StreamId).Duplicate(x => x.Version).Duplicate(x => x.At);
        opts.Schema.For<HostSnapshot>().Duplicate(x => x.StreamId).Duplicate(x => x.Version).Duplicate(x => x.At);

        opts.Schema.For<Vm>().Duplicate(x => x.NameLabel);
        opts.Schema.For<Vbd>().Duplicate(x => x.VmId);
        opts.Schema.For<Vif>().Duplicate(x => x.VmId);
        opts.Schema.For<XapiTask>().Duplicate(x => x.ObjectId);
        opts.Schema.For<MessageView>().Duplicate(x => x.ObjUuid);
    }
}
