using Shouldly;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Placement.PlacementCategories;

namespace Xapi.Cqrs.Domain.Tests.Placement;

public class PlacementTests
{
    // A ballooning VM: dynamic 1–2 GiB, static_max 4 GiB, 1 vCPU, hvm.
    // overhead = 1 + 1 + ⌈(256 + 8192)/256⌉ = 33 + ⌈38/256⌉ = 1 → 36 MiB; start needs 1024 + 36 = 1060 MiB.
    private static Vm Balloon(Guid? affinity = null) =>
        A.Vm(dynamicMin: 1.GiB(), dynamicMax: 2.GiB(), staticMax: 4.GiB(), affinity: affinity);

    // A fixed 1 GiB VM: overhead 1 + 1 + ⌈(256 + 2048)/256⌉ = 9 + 1 → 12 MiB.
    private static Vm OneGiB() => A.Vm(memory: 1.GiB());

    private static PlacementRequest Request(Vm vm, params Guid[] networks) => new(vm, [], networks);

    private static PlacementResult Choose(Vm vm, params Host[] hosts) =>
        HostPlacement.ChooseHost(Request(vm), [.. hosts.Select(h => (HostSnapshot)h)], new ScriptedRandom(), seed: 7, deterministic: true);

    // For the balloon VM (no host overhead, no other guests), available = total − 36 MiB:
    //   D 8 GiB:   definite 8156 − 4096 = 4060 MiB, probable 8156 − 2048 = 6108 MiB, possible 1000
    //   P 3 GiB:   definite < 0, probable 3036 − 2048 = 988 MiB, possible 1000
    //   X 1.5 GiB: definite < 0, probable < 0, possible ⌊1000·(1500 − 1024)/(2048 − 1024)⌋ = 464
    private static (Host D, Host P, Host X) Pool() =>
        (A.Host(memoryTotal: 8.GiB(), name: "D"), A.Host(memoryTotal: 3.GiB(), name: "P"), A.Host(memoryTotal: 1536.MiB(), name: "X"));

    [Fact]
    public void Candidates_carry_the_category_values()
    {
        var (d, p, x) = Pool();
        var result = Choose(Balloon(), d, p, x);
        result.Candidates.Select(c => (c.HostId, c.Available, c.Definite, c.Probable, c.Possible, c.Affinity)).ShouldBe(
        [
            (d.Id, 8156.MiB(), 4060.MiB(), 6108.MiB(), 1000, null),
            (p.Id, 3036.MiB(), -1060.MiB(), 988.MiB(), 1000, null),
            (x.Id, 1500.MiB(), -2596.MiB(), -548.MiB(), 464, null),
        ]);
    }

    // §11 rule 13
    [Fact]
    public void Definite_host_is_chosen_before_probable_and_possible()
    {
        var (d, p, x) = Pool();
        var result = Choose(Balloon(), x, p, d);
        (result.HostId, result.Category, result.MemoryChecked).ShouldBe((d.Id, Definite, true));
        result.Draws.ShouldBe([new PlacementDraw(Definite, true, 1, 0, 0, d.Id, true)]);
    }

    [Fact]
    public void Probable_host_is_chosen_when_the_definite_one_fails()
    {
        var (d, p, x) = Pool();
        var result = Choose(Balloon(), d with { Enabled = false }, p, x);
        (result.HostId, result.Category).ShouldBe((p.Id, Probable));
        result.Draws.ShouldBe(
        [
            new PlacementDraw(Definite, true, 1, 0, 0, d.Id, false),
            new PlacementDraw(Probable, true, 1, 0, 0, p.Id, true),
        ]);
        var failed = result.Candidates.Single(c => c.HostId == d.Id);
        failed.FailedCheck.ShouldBe(ErrorCodes.HostDisabled);
        failed.FailedParams.ShouldBe([d.Id.ToString()]);
    }

    [Fact]
    public void Possible_host_is_chosen_last()
    {
        var (d, p, x) = Pool();
        var result = Choose(Balloon(), d with { Enabled = false }, p with { Enabled = false }, x);
        (result.HostId, result.Category).ShouldBe((x.Id, Possible));
        result.Draws.Select(dr => (dr.Category, dr.HostId, dr.Accepted)).ShouldBe(
            [(Definite, d.Id, false), (Probable, p.Id, false), (Possible, x.Id, true)]);
    }

    [Fact]
    public void Affinity_host_is_preferred_over_better_hosts()
    {
        var (d, p, x) = Pool();
        var result = Choose(Balloon(affinity: x.Id), d, p, x);
        (result.HostId, result.Category).ShouldBe((x.Id, Affinity));
        result.Candidates.Select(c => c.Affinity).ShouldBe([-1, -1, 464]);
    }

    [Fact]
    public void Affinity_host_that_cannot_fit_the_dynamic_minimum_is_passed_over()
    {
        var (d, _, _) = Pool();
        var tiny = A.Host(memoryTotal: 512.MiB());
        var result = Choose(Balloon(affinity: tiny.Id), d, tiny);
        (result.HostId, result.Category).ShouldBe((d.Id, Definite));
        result.Draws.ShouldHaveSingleItem();
    }

    [Fact]
    public void Affinity_to_an_unknown_host_is_ignored()
    {
        var (d, _, _) = Pool();
        var result = Choose(Balloon(affinity: Guid.NewGuid()), d);
        result.Candidates.Single().Affinity.ShouldBeNull();
        result.Category.ShouldBe(Definite);
    }

    // §11 rule 13: the index is ⌊n·r²⌋ over hosts sorted by descending value.
    // Four 1 GiB-VM hosts of 10, 9, 8, 7 GiB: definite = total − 1036 MiB, so the order is 10, 9, 8, 7.
    [Theory]
    [InlineData(0.0, 0, 10)]  // 4 · 0 = 0
    [InlineData(0.49, 0, 10)] // 4 · 0.2401 = 0.96
    [InlineData(0.5, 1, 9)]   // 4 · 0.25 = 1
    [InlineData(0.6, 1, 9)]   // 4 · 0.36 = 1.44
    [InlineData(0.75, 2, 8)]  // 4 · 0.5625 = 2.25
    [InlineData(0.9, 3, 7)]   // 4 · 0.81 = 3.24
    public void Draw_index_is_n_times_r_squared(double r, int index, int totalGiB)
    {
        var hosts = new[] { 7, 9, 10, 8 }.Select(g => A.Host(memoryTotal: g.GiB(), name: $"{g}")).ToArray();
        var result = HostPlacement.ChooseHost(Request(OneGiB()), [.. hosts.Select(h => (HostSnapshot)h)], new ScriptedRandom(r), seed: 1);
        var expected = hosts.Single(h => h.NameLabel == $"{totalGiB}");
        result.HostId.ShouldBe(expected.Id);
        result.Draws.ShouldBe([new PlacementDraw(Definite, true, 4, r, index, expected.Id, true)]);
    }

    [Fact]
    public void Failed_host_is_removed_and_the_next_draw_indexes_the_shorter_list()
    {
        var hosts = new[] { 10, 9, 8, 7 }.Select(g => A.Host(memoryTotal: g.GiB(), name: $"{g}", enabled: g != 7)).ToArray();
        var random = new ScriptedRandom(0.9, 0.9);
        var result = HostPlacement.ChooseHost(Request(OneGiB()), [.. hosts.Select(h => (HostSnapshot)h)], random, seed: 1);
        result.Draws.ShouldBe(
        [
            new PlacementDraw(Definite, true, 4, 0.9, 3, hosts[3].Id, false), // ⌊4 · 0.81⌋ = 3 → 7 GiB, disabled
            new PlacementDraw(Definite, true, 3, 0.9, 2, hosts[2].Id, true),  // ⌊3 · 0.81⌋ = 2 → 8 GiB
        ]);
        result.HostId.ShouldBe(hosts[2].Id);
        random.Taken.ShouldBe(2);
    }

    // §11 rule 14: coordinator 8 GiB vs member 6 GiB, 1 GiB VM.
    //   coordinator definite v = 8192 − 12 − 1024 = 7156 MiB = 7503609856 bytes → (v − 1)/2 = 3751804927
    //   member definite = 6144 − 12 − 1024 = 5108 MiB
    [Fact]
    public void Coordinator_bias_flips_the_order()
    {
        var coordinator = A.Host(memoryTotal: 8.GiB(), isCoordinator: true);
        var member = A.Host(memoryTotal: 6.GiB());
        HostSnapshot[] hosts = [coordinator, member];

        var biased = HostPlacement.ChooseHost(Request(OneGiB()), hosts, new ScriptedRandom(), 1, deterministic: true);
        biased.HostId.ShouldBe(member.Id);
        var c = biased.Candidates.Single(x => x.HostId == coordinator.Id);
        (c.Definite, c.Probable).ShouldBe((3751804927L, 3751804927L));
        biased.Candidates.Single(x => x.HostId == member.Id).Definite.ShouldBe(5108.MiB());

        var unbiased = HostPlacement.ChooseHost(Request(OneGiB()) with { CoordinatorBias = false }, hosts, new ScriptedRandom(), 1, deterministic: true);
        unbiased.HostId.ShouldBe(coordinator.Id);
        unbiased.Candidates.Single(x => x.HostId == coordinator.Id).Definite.ShouldBe(7156.MiB());
    }

    [Fact]
    public void Coordinator_bias_truncates_toward_zero_so_an_exact_fit_stays_definite()
    {
        // available = (1024 + 12) − 12 = 1024 MiB = Σ static_max → v = 0 → (0 − 1)/2 = 0 in Int64 division
        var coordinator = A.Host(memoryTotal: 1036.MiB(), isCoordinator: true);
        var result = Choose(OneGiB(), coordinator);
        (result.Category, result.Candidates.Single().Definite).ShouldBe((Definite, 0L));
    }

    // §11 rule 12: the second pass drops only the memory check.
    // pv_in_pvh, dynamic 1 GiB, static_max 2 GiB: overhead 1 + 1 + ⌈(256 + 4096)/256⌉ = 17 + 1 + shim (23 + ⌊2048/90⌋ = 45)
    // = 65 MiB; start needs static_max + overhead = 2113 MiB. Host 1.5 GiB: available 1471 MiB,
    // probable 1471 − 1024 = 447 MiB ≥ 0, definite < 0; free memory 1536 MiB < 2113 MiB.
    [Fact]
    public void Second_pass_without_memory_check_takes_a_host_short_of_start_memory()
    {
        var vm = A.Vm(dynamicMin: 1.GiB(), dynamicMax: 1.GiB(), staticMax: 2.GiB(), domainType: DomainType.PvInPvh);
        var host = A.Host(memoryTotal: 1536.MiB());
        var result = Choose(vm, host);
        (result.HostId, result.Category, result.MemoryChecked, result.MemoryRequired).ShouldBe((host.Id, Probable, false, 2113.MiB()));
        result.Draws.ShouldBe(
        [
            new PlacementDraw(Probable, true, 1, 0, 0, host.Id, false),
            new PlacementDraw(Probable, false, 1, 0, 0, host.Id, true),
        ]);
        var candidate = result.Candidates.Single();
        candidate.FailedCheck.ShouldBe(ErrorCodes.HostNotEnoughFreeMemory);
        candidate.FailedParams.ShouldBe(["2215641088", "1610612736"]); // 2113 MiB, 1536 MiB
    }

    [Fact]
    public void Request_without_memory_check_makes_a_single_pass()
    {
        var vm = A.Vm(dynamicMin: 1.GiB(), dynamicMax: 1.GiB(), staticMax: 2.GiB(), domainType: DomainType.PvInPvh);
        var host = A.Host(memoryTotal: 1536.MiB());
        var result = HostPlacement.ChooseHost(Request(vm) with { CheckMemory = false }, [host], new ScriptedRandom(), 1, deterministic: true);
        result.Draws.ShouldBe([new PlacementDraw(Probable, false, 1, 0, 0, host.Id, true)]);
    }

    // §11 rule 13: a host that failed in a category is not reconsidered in a later one.
    [Fact]
    public void Host_failing_validation_is_not_retried_in_a_later_category()
    {
        var network = Guid.NewGuid();
        var (d, p, _) = Pool();
        var withoutNetwork = d; // best in definite and in probable, but cannot see the network
        var withNetwork = p with { Networks = [network] };
        var result = HostPlacement.ChooseHost(Request(Balloon(), network), [withoutNetwork, withNetwork], new ScriptedRandom(), 1, deterministic: true);
        result.Draws.ShouldBe(
        [
            new PlacementDraw(Definite, true, 1, 0, 0, withoutNetwork.Id, false),
            new PlacementDraw(Probable, true, 1, 0, 0, withNetwork.Id, true), // n = 1: the failed host is not in the list
        ]);
        result.Candidates.Single(c => c.HostId == withoutNetwork.Id).FailedCheck.ShouldBe(ErrorCodes.VmRequiresNetwork);
    }

    [Fact]
    public void Equal_hosts_are_ordered_by_id()
    {
        var (low, high) = (Guid.Parse("00000000-0000-0000-0000-000000000001"), Guid.Parse("00000000-0000-0000-0000-000000000002"));
        Choose(OneGiB(), A.Host(id: high), A.Host(id: low)).HostId.ShouldBe(low);
    }

    // §11 rule 12: only live, enabled, non-evacuating hosts are candidates.
    [Fact]
    public void Dead_disabled_and_evacuating_hosts_are_skipped()
    {
        var dead = A.Host(memoryTotal: 64.GiB(), live: false);
        var disabled = A.Host(memoryTotal: 32.GiB(), enabled: false);
        var evacuating = A.Host(memoryTotal: 16.GiB(), currentOperations: [Host.EvacuateOperation]);
        var fine = A.Host(memoryTotal: 4.GiB());
        var result = Choose(OneGiB(), dead, disabled, evacuating, fine);
        result.HostId.ShouldBe(fine.Id);
        result.Candidates.Select(c => c.FailedCheck).ShouldBe(
            [ErrorCodes.HostNotLive, ErrorCodes.HostDisabled, ErrorCodes.HostEvacuateInProgress, null]);
    }

    // §11 rule 12
    [Fact]
    public void No_valid_host_fails_with_no_hosts_available()
    {
        var (d, p, x) = Pool();
        ((Func<PlacementResult>)(() => HostPlacement.ChooseHost(Request(Balloon(), Guid.NewGuid()), [d, p, x], new ScriptedRandom(), 1, deterministic: true)))
            .ShouldThrowError(ErrorCodes.NoHostsAvailable);
    }

    [Fact]
    public void Host_that_cannot_fit_the_dynamic_minima_is_never_drawn()
    {
        // 512 MiB − 36 MiB overhead < 1 GiB dynamic_min: outside every category, in both passes
        var tiny = A.Host(memoryTotal: 512.MiB());
        ((Func<PlacementResult>)(() => HostPlacement.ChooseHost(Request(Balloon()), [tiny], new ScriptedRandom(), 1)))
            .ShouldThrowError(ErrorCodes.NoHostsAvailable);
        ((Func<PlacementResult>)(() => HostPlacement.ChooseHost(Request(Balloon()), [], new ScriptedRandom(), 1)))
            .ShouldThrowError(ErrorCodes.NoHostsAvailable);
    }

    [Fact]
    public void Resident_and_scheduled_guests_reduce_the_category_values()
    {
        // resident 2 GiB VM (overhead 20 MiB), scheduled balloon VM (36 MiB), host overhead 256 MiB, placed 1 GiB VM (12 MiB):
        // available = 8192 − (256 + 20 + 36 + 12) = 7868; Σ static_max = 2048 + 4096 + 1024 = 7168 → definite 700;
        // Σ dynamic_max = 2048 + 2048 + 1024 = 5120 → probable 2748; available ≥ Σ dynamic_max → possible 1000
        var host = A.Host(memoryTotal: 8.GiB(), memoryOverhead: 256.MiB(), resident: [A.Vm(memory: 2.GiB())], scheduled: [Balloon()]);
        var c = Choose(OneGiB(), host).Candidates.Single();
        (c.Available, c.Definite, c.Probable, c.Possible).ShouldBe((7868.MiB(), 700.MiB(), 2748.MiB(), 1000L));
    }

    [Fact]
    public void Placed_vm_already_scheduled_on_a_host_is_counted_once()
    {
        var vm = OneGiB();
        var c = Choose(vm, A.Host(memoryTotal: 8.GiB(), scheduled: [vm])).Candidates.Single();
        (c.Available, c.Definite).ShouldBe((8180.MiB(), 7156.MiB()));
    }

    [Fact]
    public void Result_builds_the_host_chosen_event()
    {
        var (d, _, _) = Pool();
        var vm = Balloon();
        var task = Guid.NewGuid();
        var result = HostPlacement.ChooseHost(Request(vm), [d], new ScriptedRandom(0.3), seed: 1234);
        var e = result.ToEvent(task, VmOperation.Start);
        (e.TaskId, e.HostId, e.Operation, e.Seed, e.Category, e.MemoryRequired).ShouldBe((task, d.Id, "start", 1234, Definite, 1060.MiB()));
        e.Candidates.ShouldBe(result.Candidates);
        e.Draws.ShouldBe([new PlacementDraw(Definite, true, 1, 0.3, 0, d.Id, true)]);
    }

    [Fact]
    public void Seeded_random_gives_the_same_choice_every_time()
    {
        var hosts = Enumerable.Range(0, 8).Select(i => (HostSnapshot)A.Host(memoryTotal: (4 + i).GiB())).ToArray();
        var vm = OneGiB();
        var first = HostPlacement.ChooseHost(Request(vm), hosts, new Random(42), 42);
        var again = HostPlacement.ChooseHost(Request(vm), hosts, new Random(42), 42);
        again.HostId.ShouldBe(first.HostId);
        again.Draws.ShouldBe(first.Draws);
    }

    // §11 rule 16 and §3.3
    [Fact]
    public void Start_on_an_evacuating_host_fails_with_host_evacuate_in_progress()
    {
        var host = A.Host(currentOperations: [Host.EvacuateOperation], enabled: false);
        HostPlacement.CheckStartOn(Request(OneGiB()), host).ShouldBeError(ErrorCodes.HostEvacuateInProgress, host.Id.ToString());
    }

    [Fact]
    public void Start_on_a_disabled_host_fails_with_host_disabled()
    {
        var host = A.Host(enabled: false);
        HostPlacement.CheckStartOn(Request(OneGiB()), host).ShouldBeError(ErrorCodes.HostDisabled, host.Id.ToString());
    }

    [Fact]
    public void Control_domain_start_on_a_non_affinity_host_fails_with_operation_not_allowed()
    {
        var home = A.Host();
        var elsewhere = A.Host(currentOperations: [Host.EvacuateOperation]);
        var vm = A.Vm(isControlDomain: true, affinity: home.Id);
        HostPlacement.CheckStartOn(Request(vm), elsewhere)
            .ShouldBeError(ErrorCodes.OperationNotAllowed, "Cannot boot a control domain on a host different from its affinity");
        HostPlacement.CheckStartOn(Request(vm), home).ShouldBeNull();
    }

    // §11 rule 10: host 4 GiB, 512 MiB host overhead, a resident 2 GiB VM (2048 + 20 MiB).
    // Free = 4096 − 512 − 2068 = 1516 MiB. The 1.5 GiB VM needs 1536 + 16 (⌈(256 + 3072)/256⌉ = 13; 1 + 1 + 13 + 1) = 1552 MiB.
    [Fact]
    public void Start_on_a_host_short_of_memory_fails_with_needed_and_available()
    {
        var vm = A.Vm(memory: 1536.MiB());
        var host = A.Host(memoryTotal: 4.GiB(), memoryOverhead: 512.MiB(), resident: [A.Vm(memory: 2.GiB())]);
        HostPlacement.CheckStartOn(Request(vm), host).ShouldBeError(ErrorCodes.HostNotEnoughFreeMemory, "1627389952", "1589641216");

        // the VM's own reservation on the host is not counted against it; another VM's is
        var withOwnReservation = host with { Scheduled = host.Scheduled.Add(vm.Id, MemoryModel.Charge(vm)) };
        HostPlacement.CheckStartOn(Request(vm), withOwnReservation)
            .ShouldBeError(ErrorCodes.HostNotEnoughFreeMemory, "1627389952", "1589641216");
        var other = A.Vm(memory: 100.MiB(), memoryOverhead: 0);
        var withOtherReservation = host with { Scheduled = host.Scheduled.Add(other.Id, MemoryModel.Charge(other)) };
        HostPlacement.CheckStartOn(Request(vm), withOtherReservation)
            .ShouldBeError(ErrorCodes.HostNotEnoughFreeMemory, "1627389952", (1416 * 1048576L).ToString(System.Globalization.CultureInfo.InvariantCulture));

        HostPlacement.CheckStartOn(Request(vm), host with { MemoryTotal = 8.GiB() }).ShouldBeNull();
    }
}
