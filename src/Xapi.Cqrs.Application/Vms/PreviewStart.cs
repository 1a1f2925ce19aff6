using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// What-if (POST /api/vms/{id}/start?dryRun=true, also start-on): the decision a start would take now — the
/// host, the seed of the draw, every candidate with its category value and, for a host that was tried and
/// refused, why — from the very <see cref="StartDecision.Decide"/> a start runs. Reads the current states,
/// locks nothing and writes nothing. A start that would be refused answers that refusal.
/// </summary>
public static class PreviewStart
{
    public sealed record Query(Guid VmId, Guid? Host, bool Paused) : IRequest<Preview>;

    public sealed record Refusal(string Code, IReadOnlyList<string> Params);

    public sealed record Candidate(Guid Host, string NameLabel, string? Category, long? Value, Refusal? Refused);

    public sealed record Preview(Guid Host, int Seed, string Category, long MemoryRequired, IReadOnlyList<Candidate> Candidates);

    public sealed class Validator : XapiValidator<Query>
    {
        public Validator() => RuleFor(q => q.VmId).NotEmpty().InvalidValue("VM");
    }

    public sealed class Handler(IQuerySession session, PlacementSettings seeds, CommandContext context, TimeProvider time) : IRequestHandler<Query, Preview>
    {
        public async Task<Preview> Handle(Query q, CancellationToken ct)
        {
            var vm = await session.GetAsync<Vm>(q.VmId, ObjectClass.Vm, ct);
            var batch = session.CreateBatchQuery();
            var vbdsQuery = batch.LoadMany<Vbd>().ById(vm.Vbds.Keys.ToArray());
            var vifsQuery = batch.LoadMany<Vif>().ById(vm.Vifs.Keys.ToArray());
            var hostsQuery = batch.Query<Host>().ToList();
            await batch.Execute(ct);
            var vbds = await vbdsQuery;
            var vdiIds = vbds.Where(v => v is { Empty: false, VdiId: not null }).Select(v => v.VdiId!.Value).Distinct().ToArray();
            var vdis = vdiIds.Length == 0 ? [] : await session.LoadManyAsync<Vdi>(ct, vdiIds);

            var request = new StartRequest(Guid.NewGuid(), q.Host, q.Paused, seeds.NextSeed(), context.Subject, time.GetUtcNow());
            var decision = StartDecision.Decide(VmDevices.Of(vm, vbds, vdis, await vifsQuery), request, PoolView.Of(await hostsQuery));
            if (decision.Refusal is { } refusal)
            {
                throw refusal;
            }

            var placement = decision.Placement!;
            return new Preview(placement.HostId, placement.Seed, placement.Category, placement.MemoryRequired,
                [.. placement.Candidates.Select(c =>
                {
                    var (category, value) = PlacementCategories.Of(c);
                    return new Candidate(c.HostId, c.NameLabel, category, value,
                        c.FailedCheck is { } code ? new Refusal(code, [.. c.FailedParams]) : null);
                })]);
        }
    }
}
