using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// The host agent's reports of a start (§6.3, §3.1 steps 10–12, §3.2), each decided by
/// <see cref="StartReports"/>: steps done (committed together), resident, completed, failed and undone.
/// Each handler locks the streams it writes, loads, decides, appends and saves.
/// </summary>
public static class ReportStart
{
    /// <summary>Host-side steps that finished within the agent's coalescing window.</summary>
    public sealed record Steps(Guid VmId, Guid TaskId, IReadOnlyList<IHostStep> Done) : IRequest<Unit>;

    /// <summary>
    /// The domain is complete: the remaining steps, resident_on, power state, residency and devices, and the
    /// master-side completion, in one commit.
    /// </summary>
    public sealed record Started(Guid VmId, Guid TaskId, Guid HostId, long Domid, VmPowerState PowerState,
        IReadOnlyDictionary<Guid, string> PluggedVbds, IReadOnlyList<Guid> PluggedVifs, IReadOnlyList<IHostStep> Done) : IRequest<Unit>;

    /// <summary>
    /// Several <see cref="Started"/> reports of one host, committed together (the agent's group commit): one
    /// transaction, one lock of the host, each report stamped with its own caller and correlation id.
    /// </summary>
    public sealed record StartedMany(Guid HostId, IReadOnlyList<(Started Report, EventMetadata Caller)> Reports) : IRequest<Unit>;

    /// <summary>Master-side completion alone (§3.1 steps 10–12), for a VM found resident but not completed after a restart.</summary>
    public sealed record Complete(Guid VmId, Guid TaskId, Guid HostId) : IRequest<Unit>;

    /// <summary>The host side failed and destroyed what it built; undo the master side (§3.2).</summary>
    public sealed record Fail(Guid VmId, Guid TaskId, Guid HostId, string Code, IReadOnlyList<string> Params, IReadOnlyList<IHostStep> Done) : IRequest<Unit>;

    public sealed class Handler(IDocumentSession session, IDocumentStore store, Microsoft.Extensions.Logging.ILogger<QuietConflictLogger> sessionLog, TimeProvider time) :
        IRequestHandler<Steps, Unit>, IRequestHandler<Started, Unit>, IRequestHandler<StartedMany, Unit>, IRequestHandler<Complete, Unit>, IRequestHandler<Fail, Unit>
    {
        public async Task<Unit> Handle(Steps r, CancellationToken ct)
        {
            var vm = await session.WriteAsync<Vm>(r.VmId, ObjectClass.Vm, ct);
            await session.AppendAsync(StartReports.Steps(vm.Aggregate!, r.TaskId, r.Done), _ => vm.StartingVersion, ct);
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }

        public Task<Unit> Handle(Started r, CancellationToken ct) => DecideAsync(r.VmId, r.HostId, (d, host) => Decide(d, host, r), ct);

        private Domain.Streams.Changes Decide(VmDevices d, Domain.Hosts.Host? host, Started r) =>
            StartReports.Started(d, host ?? throw XapiException.HandleInvalid(ObjectClass.Host, r.HostId),
                r.TaskId, r.Domid, r.PowerState, r.PluggedVbds, r.PluggedVifs, r.Done, Guid.NewGuid(), time.GetUtcNow());

        public async Task<Unit> Handle(StartedMany r, CancellationToken ct)
        {
            await using var many = ActorSessionFactory.OpenForMany(store, sessionLog);
            var set = await WriteSet.LoadAsync(many, [.. r.Reports.Select(x => x.Report.VmId).Distinct()], ct, hostIds: [r.HostId]);
            var decisions = new List<(Domain.Streams.Changes, EventMetadata?)>(r.Reports.Count);
            foreach (var (report, caller) in r.Reports)
            {
                var changes = Decide(set.DevicesOf(report.VmId), set.HostOf(r.HostId), report);
                set.Apply(changes);
                decisions.Add((changes, caller));
            }

            await many.AppendAsync(decisions, set.VersionOf, ct);
            await many.SaveChangesAsync(ct);
            return Unit.Value;
        }

        public Task<Unit> Handle(Complete r, CancellationToken ct) =>
            DecideAsync(r.VmId, r.HostId, (d, host) => host is null ? Domain.Streams.Changes.None
                : StartReports.Complete(d, host, r.TaskId, Guid.NewGuid(), time.GetUtcNow()), ct);

        public Task<Unit> Handle(Fail r, CancellationToken ct) =>
            DecideAsync(r.VmId, r.HostId, (d, host) => StartReports.Fail(d, host, r.TaskId, r.Code, r.Params, r.Done, time.GetUtcNow()), ct);

        private async Task<Unit> DecideAsync(Guid vmId, Guid hostId, Func<VmDevices, Domain.Hosts.Host?, Domain.Streams.Changes> decide, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [vmId], ct, hostIds: [hostId]);
            var changes = decide(set.DevicesOf(vmId), set.HostOf(hostId));
            await session.AppendAsync(changes, set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }
    }
}
