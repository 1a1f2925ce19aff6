using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Memory;

public class MemoryModelTests
{
    [Fact]
    public void Used_conversions_round_up_and_free_conversions_round_down()
    {
        MemoryModel.MibOfBytesUsed(1).ShouldBe(1);
        MemoryModel.MibOfBytesUsed(1.MiB()).ShouldBe(1);
        MemoryModel.MibOfBytesUsed(1.MiB() + 1).ShouldBe(2);
        MemoryModel.MibOfBytesFree(1.MiB() + 1).ShouldBe(1);
        MemoryModel.MibOfBytesFree(1.MiB() - 1).ShouldBe(0);
        MemoryModel.MibOfPagesUsed(257).ShouldBe(2);
        MemoryModel.MibOfPagesFree(257).ShouldBe(1);
        MemoryModel.PagesPerMib.ShouldBe(256);
    }

    // §11 rule 11. shadow = ⌈(256·2 + 4096 + 4096)/256⌉ = ⌈8704/256⌉ = 34; Xen = ⌈38·2/256⌉ = 1.
    [Theory]
    [InlineData(DomainType.Hvm, 37)]    // 1 + 1 + 34 + 1
    [InlineData(DomainType.Pvh, 37)]    // HVM data: 1 + 1 + 34 + 1
    [InlineData(DomainType.Pv, 36)]     // Linux: 0 + 1 + 34 + 1
    [InlineData(DomainType.PvInPvh, 105)] // 1 + 1 + 34 + 1 + shim (23 + ⌊4096/90⌋ = 23 + 45 = 68)
    public void Overhead_of_4096_mib_and_2_vcpus_matches_the_hand_computed_value(DomainType type, long expectedMib)
    {
        MemoryModel.OverheadBytes(4096.MiB(), 2, 1.0, type).ShouldBe(expectedMib.MiB());
    }

    [Theory]
    [InlineData(2.0, 71)] // shadow ⌊34 × 2.0⌋ = 68; 1 + 1 + 68 + 1
    [InlineData(1.5, 54)] // shadow ⌊34 × 1.5⌋ = 51; 1 + 1 + 51 + 1
    [InlineData(1.01, 37)] // shadow ⌊34 × 1.01⌋ = ⌊34.34⌋ = 34
    public void Shadow_multiplier_scales_the_shadow_and_truncates(double multiplier, long expectedMib)
    {
        MemoryModel.OverheadBytes(4096.MiB(), 2, multiplier, DomainType.Hvm).ShouldBe(expectedMib.MiB());
    }

    [Fact]
    public void Static_max_is_rounded_up_to_whole_mib()
    {
        // 4097 MiB: ⌈(512 + 8194)/256⌉ = ⌈34.01⌉ = 35; 1 + 1 + 35 + 1 = 38
        MemoryModel.OverheadBytes(4096.MiB() + 1, 2, 1.0, DomainType.Hvm).ShouldBe(38.MiB());
    }

    [Fact]
    public void Xen_pages_per_vcpu_round_up_per_256()
    {
        // 7 vCPUs: shadow ⌈(1792 + 8192)/256⌉ = 39; Xen ⌈266/256⌉ = 2; 1 + 1 + 39 + 2 = 43
        MemoryModel.OverheadBytes(4096.MiB(), 7, 1.0, DomainType.Hvm).ShouldBe(43.MiB());
    }

    [Fact]
    public void Shadow_is_never_below_one_mib()
    {
        MemoryModel.ShadowMib(0, 0, 1.0).ShouldBe(1);   // ⌈0/256⌉ = 0 → 1
        MemoryModel.ShadowMib(1, 0, 0.5).ShouldBe(1);   // ⌈2/256⌉ = 1, ⌊0.5⌋ = 0 → 1
        // 16 MiB, 1 vCPU, ×1.0: shadow ⌈(256 + 32)/256⌉ = 2; 1 + 1 + 2 + 1 = 5
        MemoryModel.OverheadBytes(16.MiB(), 1, 1.0, DomainType.Hvm).ShouldBe(5.MiB());
    }

    [Fact]
    public void Unspecified_domain_type_is_refused_by_the_model_but_resolved_for_a_vm()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => MemoryModel.OverheadBytes(1.GiB(), 1, 1.0, DomainType.Unspecified));
        MemoryModel.OverheadBytes(A.Vm(staticMax: 4096.MiB(), vcpusMax: 2, domainType: DomainType.Unspecified))
            .ShouldBe(36.MiB()); // HVM_boot_policy "" → pv
        MemoryModel.OverheadBytes(A.Vm(staticMax: 4096.MiB(), vcpusMax: 2, domainType: DomainType.Unspecified, hvmBootPolicy: "BIOS order"))
            .ShouldBe(37.MiB());
    }

    // §11 rule 11 / §5.3: required = dynamic_min + overhead = 2048 + 37
    [Fact]
    public void Hvm_start_needs_dynamic_min_plus_overhead()
    {
        var vm = A.Vm(dynamicMin: 2048.MiB(), dynamicMax: 4096.MiB(), staticMax: 4096.MiB(), vcpusMax: 2);
        MemoryModel.StartMemoryRequired(vm).ShouldBe(2085.MiB());
        MemoryModel.StartMemoryOf(vm).ShouldBe(new StartMemory(2051.MiB(), 34.MiB()));
    }

    [Fact]
    public void Pv_in_pvh_start_needs_static_max_plus_overhead()
    {
        var vm = A.Vm(dynamicMin: 2048.MiB(), staticMax: 4096.MiB(), vcpusMax: 2, domainType: DomainType.PvInPvh);
        MemoryModel.StartMemoryRequired(vm).ShouldBe((4096 + 105).MiB());
    }

    [Fact]
    public void Pv_start_forces_shadow_multiplier_one()
    {
        // stored overhead uses the VM's ×2.0: 0 + 1 + 68 + 1 = 70 MiB; the start requirement uses ×1.0:
        // 2048 + (0 + 1 + 34 + 1) = 2084 MiB, of which shadow 34 MiB
        var vm = A.Vm(dynamicMin: 2048.MiB(), staticMax: 4096.MiB(), vcpusMax: 2, domainType: DomainType.Pv, shadowMultiplier: 2.0);
        vm.MemoryOverhead.ShouldBe(70.MiB());
        MemoryModel.StartMemoryOf(vm).ShouldBe(new StartMemory(2050.MiB(), 34.MiB()));
        MemoryModel.StartMemoryRequired(vm).ShouldBe(2084.MiB());
    }

    [Fact]
    public void Start_target_is_rounded_up_to_whole_mib()
    {
        var vm = A.Vm(dynamicMin: 2048.MiB() + 1, staticMax: 4096.MiB(), vcpusMax: 2);
        MemoryModel.StartMemoryRequired(vm).ShouldBe(2086.MiB());
    }

    [Fact]
    public void Charge_counts_dynamic_min_plus_stored_overhead()
    {
        var charge = MemoryModel.Charge(A.Vm(dynamicMin: 1.GiB(), dynamicMax: 2.GiB(), staticMax: 4.GiB(), memoryOverhead: 40.MiB()));
        charge.ShouldBe(new Hosts.MemoryCharge(1.GiB(), 2.GiB(), 4.GiB(), 40.MiB()));
        charge.Used.ShouldBe(1.GiB() + 40.MiB());
    }

    // §11 rule 10: free = total − host overhead − Σ(dynamic_min + overhead) over resident ∪ scheduled
    [Fact]
    public void Free_memory_counts_resident_and_scheduled_vms()
    {
        var resident = A.Vm(memory: 1.GiB(), memoryOverhead: 10.MiB());
        var scheduled = A.Vm(dynamicMin: 2.GiB(), staticMax: 4.GiB(), memoryOverhead: 20.MiB());
        var host = A.Host(memoryTotal: 8.GiB(), memoryOverhead: 512.MiB(), resident: [resident], scheduled: [scheduled]);
        host.FreeMemory().ShouldBe((8192 - 512 - (1024 + 10) - (2048 + 20)).MiB());
    }

    [Fact]
    public void Free_memory_leaves_out_the_checked_vms_own_reservation()
    {
        var me = A.Vm(memory: 2.GiB(), memoryOverhead: 20.MiB());
        var other = A.Vm(memory: 1.GiB(), memoryOverhead: 10.MiB());
        var host = A.Host(memoryTotal: 8.GiB(), scheduled: [me, other]);
        host.FreeMemory(excludingScheduledVm: me.Id).ShouldBe((8192 - 1034).MiB());
        host.FreeMemory().ShouldBe((8192 - 1034 - 2068).MiB());
    }

    [Fact]
    public void Vm_both_resident_and_scheduled_is_counted_twice()
    {
        var vm = A.Vm(memory: 1.GiB(), memoryOverhead: 0);
        var host = A.Host(memoryTotal: 8.GiB(), resident: [vm], scheduled: [vm]);
        host.FreeMemory().ShouldBe(6.GiB());
        host.FreeMemory(excludingScheduledVm: vm.Id).ShouldBe(7.GiB());
    }

    [Fact]
    public void Free_memory_is_never_negative()
    {
        A.Host(memoryTotal: 1.GiB(), resident: [A.Vm(memory: 2.GiB())]).FreeMemory().ShouldBe(0);
    }

    [Fact]
    public void Overhead_is_monotone_in_static_max_and_vcpus()
    {
        var inputs =
            from smaxMib in Gen.Choose(0, 1 << 20)
            from moreMib in Gen.Choose(0, 1 << 16)
            from vcpus in Gen.Choose(1, 256)
            from moreVcpus in Gen.Choose(0, 64)
            from tenths in Gen.Choose(10, 40)
            from type in Gen.Elements(DomainType.Hvm, DomainType.Pv, DomainType.Pvh, DomainType.PvInPvh)
            select (Smax: (long)smaxMib, More: (long)moreMib, Vcpus: (long)vcpus, MoreVcpus: (long)moreVcpus, Multiplier: tenths / 10.0, Type: type);

        Prop.ForAll(inputs.ToArbitrary(), i =>
        {
            var baseline = MemoryModel.OverheadMib(i.Smax, i.Vcpus, i.Multiplier, i.Type);
            return MemoryModel.OverheadMib(i.Smax + i.More, i.Vcpus, i.Multiplier, i.Type) >= baseline
                && MemoryModel.OverheadMib(i.Smax, i.Vcpus + i.MoreVcpus, i.Multiplier, i.Type) >= baseline
                && MemoryModel.ShadowMib(i.Smax, i.Vcpus, i.Multiplier) >= 1;
        }).QuickCheckThrowOnFailure();
    }
}
