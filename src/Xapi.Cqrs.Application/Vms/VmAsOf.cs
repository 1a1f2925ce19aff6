using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// GET /api/vms/{id}/history?at=&lt;ISO-8601&gt; or ?version=N: the VM record as it was then, in the shape of
/// GET /api/vms/{id}, rebuilt from the events (<see cref="AsOf"/>). With both, the earlier of the two. A destroyed VM
/// still answers for its past; a moment before the VM existed is HANDLE_INVALID.
/// </summary>
public static class VmAsOf
{
    public sealed record Query(Guid VmId, DateTimeOffset? At, long? Version) : IRequest<VmView>;

    public sealed class Validator : XapiValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.VmId).NotEmpty().InvalidValue("VM");
            RuleFor(q => q.Version).GreaterThanOrEqualTo(1).InvalidValue("version");
        }
    }

    public sealed class Handler(IQuerySession session) : IRequestHandler<Query, VmView>
    {
        public async Task<VmView> Handle(Query q, CancellationToken ct) =>
            await AsOf.VmAsync(session, q.VmId, q.Version, q.At, ct) is { } vm
                ? VmView.From(vm)
                : throw XapiException.HandleInvalid(ObjectClass.Vm, q.VmId);
    }
}
