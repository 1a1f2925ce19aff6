using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// The hypervisor reports the VM's domain gone: the move to Halted (§1.7), decided by <see cref="MoveToHalted"/>.
/// </summary>
public static class VmHalted
{
    public sealed record Command(Guid VmId, Guid HostId, string Reason) : IRequest<Unit>;

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Unit>
    {
        public async Task<Unit> Handle(Command c, CancellationToken ct)
        {
            var set = await WriteSet.LoadAsync(session, [c.VmId], ct, hostIds: [c.HostId]);
            await session.AppendAsync(MoveToHalted.Decide(set.DevicesOf(c.VmId), set.HostOf(c.HostId), c.Reason), set.VersionOf, ct);
            await session.SaveChangesAsync(ct);
            return Unit.Value;
        }
    }
}
