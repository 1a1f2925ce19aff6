using Shouldly;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Placement.PlacementCategories;

namespace Xapi.Cqrs.Domain.Tests.Placement;

/// <summary>
/// Explain's replay check: a recorded HostChosen run through today's placement (<see cref="PlacementReplay.Replay"/>
/// over <see cref="HostPlacement.Select"/>): Given the recorded choice, When replayed, Then reproduced or flagged.
/// </summary>
public class PlacementReplayTests
{
    private static readonly Guid Task = Guid.NewGuid();

    private static PlacementRequest Request(Vm vm) => new(vm, [], []);

    /// <summary>A host standing as recorded: values in MiB-free units that only their order matters for.</summary>
    private static HostCandidate Standing(Guid id, string name, long definite, long probable = 1, long possible = 1000,
        string? failedCheck = null, params string[] failedParams) =>
        new(id, name, definite, definite, probable, possible, null, failedCheck, [.. failedParams]);

    private static HostChosen Recorded(Guid chosen, string category, int seed, HostCandidate[] candidates, params PlacementDraw[] draws) =>
        new(Task, chosen, "start", seed, category, [.. candidates], [.. draws], 1060);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(42)]
    [InlineData(1234)]
    [InlineData(-99)]
    public void Choice_made_by_todays_placement_replays_to_the_same_host_category_and_draws(int seed)
    {
        // Given a choice as ChooseHost recorded it over hosts of every kind: roomy, tight (probable, possible),
        // disabled, dead, and one that only the second pass (memory check off) can take.
        var vm = A.Vm(dynamicMin: 1.GiB(), dynamicMax: 2.GiB(), staticMax: 4.GiB());
        Host[] hosts =
        [
            A.Host(memoryTotal: 8.GiB(), name: "roomy"), A.Host(memoryTotal: 9.GiB(), name: "off", enabled: false),
            A.Host(memoryTotal: 3.GiB(), name: "tight"), A.Host(memoryTotal: 1536.MiB(), name: "possible"),
            A.Host(memoryTotal: 12.GiB(), name: "dead", live: false), A.Host(memoryTotal: 7.GiB(), name: "roomy2"),
        ];
        var random = new Random(seed);
        var pool = hosts.Select((h, i) => (HostSnapshot)(i > 0 && random.Next(3) == 0 ? h with { Enabled = false } : h)).ToArray();

        var made = HostPlacement.ChooseHost(Request(vm), pool, new Random(seed), seed);
        var recorded = made.ToEvent(Task, VmOperation.Start);

        // When replayed through today's code
        var replay = PlacementReplay.Replay(recorded);

        // Then the same host, by the same path
        (replay.Replayed, replay.Reproduced, replay.HostId, replay.Category).ShouldBe((true, true, made.HostId, made.Category));
        replay.Draws.ShouldBe(made.Draws);
        replay.Note.ShouldStartWith("today's placement picks the same host");
        replay.Note.ShouldNotContain("policy changed");
        replay.Note.ShouldNotContain("not validated");
    }

    [Fact]
    public void Choice_made_in_the_second_pass_without_memory_check_replays_to_the_same_host()
    {
        // Given a VM that needs 2113 MiB to start (PlacementTests) on a pool of a 1.5 GiB host and a disabled 1.75 GiB
        // one: the first pass refuses both, the second (memory check off) takes the 1.5 GiB host.
        var vm = A.Vm(dynamicMin: 1.GiB(), dynamicMax: 1.GiB(), staticMax: 2.GiB(), domainType: DomainType.PvInPvh);
        var host = A.Host(memoryTotal: 1536.MiB());
        var off = A.Host(memoryTotal: 1792.MiB(), enabled: false);
        var made = HostPlacement.ChooseHost(Request(vm), [host, off], new Random(3), 3);
        (made.HostId, made.MemoryChecked).ShouldBe((host.Id, false));

        var replay = PlacementReplay.Replay(made.ToEvent(Task, VmOperation.Start));

        (replay.Reproduced, replay.HostId, replay.Category).ShouldBe((true, host.Id, made.Category));
        replay.Draws.ShouldBe(made.Draws);
        replay.Draws.ShouldContain(d => !d.MemoryCheck);
    }

    // The policy changed: an older placement drew index ⌊n·r⌋ (no square). Over two definite hosts, r = 0.6 took index
    // ⌊2 · 0.6⌋ = 1, the smaller host; today's ⌊2 · 0.36⌋ = 0 takes the bigger one.
    [Fact]
    public void Recorded_draw_that_todays_code_resolves_differently_is_flagged_as_a_changed_policy()
    {
        var big = Standing(Guid.NewGuid(), "big", definite: 6000);
        var small = Standing(Guid.NewGuid(), "small", definite: 2000);
        var recorded = Recorded(small.HostId, Definite, seed: 5, [big, small],
            new PlacementDraw(Definite, true, 2, 0.6, 1, small.HostId, true));

        var replay = PlacementReplay.Replay(recorded);

        (replay.Replayed, replay.Reproduced, replay.HostId, replay.Category).ShouldBe((true, false, big.HostId, Definite));
        replay.Draws.ShouldBe([new PlacementDraw(Definite, true, 2, 0.6, 0, big.HostId, true)]);
        replay.Note.ShouldStartWith("the placement policy changed since");
        replay.Note.ShouldContain($"picks big ({big.HostId}) from category definite");
        replay.Note.ShouldContain($"where small ({small.HostId}) was chosen");
        replay.Note.ShouldContain($"big ({big.HostId}) was not validated when the choice was made");
    }

    // The policy changed: an older placement tried probable before definite.
    [Fact]
    public void Recorded_choice_from_a_category_tried_first_by_an_older_policy_is_flagged()
    {
        var definite = Standing(Guid.NewGuid(), "d", definite: 100, probable: 200);
        var probableOnly = Standing(Guid.NewGuid(), "p", definite: -5, probable: 900);
        var recorded = Recorded(probableOnly.HostId, Probable, seed: 9, [definite, probableOnly],
            new PlacementDraw(Probable, true, 2, 0.1, 0, probableOnly.HostId, true));

        var replay = PlacementReplay.Replay(recorded);

        (replay.Reproduced, replay.HostId, replay.Category).ShouldBe((false, definite.HostId, Definite));
    }

    [Fact]
    public void Hosts_refused_when_the_choice_was_made_stay_refused_in_the_replay()
    {
        var first = Standing(Guid.NewGuid(), "first", definite: 9000, failedCheck: ErrorCodes.HostDisabled, failedParams: "h");
        var second = Standing(Guid.NewGuid(), "second", definite: 8000);
        var recorded = Recorded(second.HostId, Definite, seed: 1, [first, second],
            new PlacementDraw(Definite, true, 2, 0.0, 0, first.HostId, false),
            new PlacementDraw(Definite, true, 1, 0.0, 0, second.HostId, true));

        var replay = PlacementReplay.Replay(recorded);

        (replay.Reproduced, replay.HostId).ShouldBe((true, second.HostId));
        replay.Draws.ShouldBe(recorded.Draws);
        replay.Note.ShouldContain("with the same 2 draws");
    }

    [Fact]
    public void Draws_beyond_the_recorded_ones_continue_the_seed_sequence()
    {
        // Recorded: a single draw (r = 0, not seed 77's first value), which found "a" refused. Today's code needs a
        // second draw: it takes the seed's second value, as the original random source would have given it.
        var a = Standing(Guid.NewGuid(), "a", definite: 9000, failedCheck: ErrorCodes.HostNotLive);
        var b = Standing(Guid.NewGuid(), "b", definite: 8000);
        var c = Standing(Guid.NewGuid(), "c", definite: 7000);
        var recorded = Recorded(b.HostId, Definite, seed: 77, [a, b, c],
            new PlacementDraw(Definite, true, 3, 0.0, 0, a.HostId, false));

        var replay = PlacementReplay.Replay(recorded);

        var seeded = new Random(77);
        seeded.NextDouble();
        var r = seeded.NextDouble();
        replay.Draws.Count().ShouldBe(2);
        replay.Draws[0].ShouldBe(recorded.Draws[0]);
        replay.Draws[1].R.ShouldBe(r, "the second value of seed 77");
        replay.Note.ShouldContain("not the sequence of seed 77");
    }

    [Fact]
    public void Today_finding_no_host_in_the_recorded_inputs_is_flagged()
    {
        // An older policy took a host outside every category.
        var outside = Standing(Guid.NewGuid(), "outside", definite: -1, probable: -1, possible: -1);
        var recorded = Recorded(outside.HostId, Possible, seed: 2, [outside], new PlacementDraw(Possible, true, 1, 0.2, 0, outside.HostId, true));

        var replay = PlacementReplay.Replay(recorded);

        (replay.Replayed, replay.Reproduced, replay.HostId, replay.Category).ShouldBe((true, false, null, null));
        replay.Note.ShouldContain("finds no host (NO_HOSTS_AVAILABLE)");
    }

    [Fact]
    public void Start_on_replays_to_its_named_host_without_a_draw()
    {
        var host = Guid.NewGuid();
        var replay = PlacementReplay.Replay(new HostChosen(Task, host, "start_on", 3, PlacementReplay.StartOn, [], [], 1060));

        (replay.Replayed, replay.Reproduced, replay.HostId, replay.Category).ShouldBe((true, true, host, PlacementReplay.StartOn));
        replay.Draws.ShouldBeEmpty();
        replay.Note.ShouldContain("start_on names its host");
    }

    [Fact]
    public void Choice_without_recorded_candidates_is_not_replayed()
    {
        var replay = PlacementReplay.Replay(new HostChosen(Task, Guid.NewGuid(), "start", 3, Definite, [], [], 1060));

        (replay.Replayed, replay.Reproduced, replay.HostId).ShouldBe((false, false, null));
        replay.Note.ShouldContain("nothing to replay");
    }

    [Fact]
    public void Replay_uses_the_same_selection_as_choose_host()
    {
        // The draw of ⌊n·r²⌋ over the same standings, with a scripted random: Select and ChooseHost agree host for host.
        var hosts = new[] { 10, 9, 8, 7 }.Select(g => (HostSnapshot)A.Host(memoryTotal: g.GiB(), name: $"{g}")).ToArray();
        var vm = A.Vm(memory: 1.GiB());
        foreach (var r in new[] { 0.0, 0.49, 0.5, 0.75, 0.9 })
        {
            var made = HostPlacement.ChooseHost(Request(vm), hosts, new ScriptedRandom(r), 1);
            var selected = HostPlacement.Select(made.Candidates, (_, _) => null, new ScriptedRandom(r), checkMemory: true);
            selected.HostId.ShouldBe(made.HostId);
            selected.Draws.ShouldBe(made.Draws);
        }
    }
}
