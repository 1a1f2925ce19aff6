using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// The host saw the VM's domain stop by itself: what actions_after_* make of it, decided by <see cref="GuestStops"/>.
/// Answers the task of the follow-up operation (hard shutdown or hard reboot), or null when nothing follows.
/// </summary>
public static class GuestStopped
{
    public sealed record Command(Guid VmId, Guid HostId, long Domid, string Reason) : IRequest<Guid?>;

    public sealed class Handler(IDocumentSession session, CommandContext context, TimeProvider time) : IRequestHandler<Command, Guid?>
    {
        public async Task<Guid?> Handle(Command c, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [c.VmId], ct, hostIds: [c.HostId]);
            if (set.HostOf(c.HostId) is not { } host)
            {
                return null;
            }

            var taskId = Guid.NewGuid();
            var changes = GuestStops.Decide(set.DevicesOf(c.VmId).Vm, host, c.Domid, c.Reason, taskId, Guid.NewGuid(), context.Subject, time.GetUtcNow());
            await session.AppendAsync(changes, set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return changes.For(taskId).Count > 0 ? taskId : null;
        }
    }
}
