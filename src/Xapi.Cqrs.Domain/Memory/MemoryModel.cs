using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Memory;

/// <summary>The two parts of a VM's start requirement (§5.3): normal memory and shadow memory, in bytes.</summary>
public readonly record struct StartMemory(long NormalBytes, long ShadowBytes)
{
    /// <summary>What the host must have free: normal + shadow = (target + overhead) MiB.</summary>
    public long RequiredBytes => NormalBytes + ShadowBytes;
}

/// <summary>
/// xapi's memory accounting (XAPI.md §5; ocaml/xapi-idl/memory/memory.ml and ocaml/xapi/memory_check.ml),
/// in 64-bit integer arithmetic like xapi's Int64 code.
/// </summary>
public static class MemoryModel
{
    // §5.1 units
    public const long BytesPerKib = 1024;
    public const long KibPerMib = 1024;
    public const long BytesPerMib = 1024 * 1024;
    public const long BytesPerPage = 4096;
    public const long PagesPerMib = BytesPerMib / BytesPerPage; // 256

    /// <summary>§5.2: xenopsd's per-vCPU pages used by Xen itself (CA-423172).</summary>
    public const long XenPagesPerVcpu = 38;

    /// <summary>⌈n / d⌉ for n ≥ 0, d &gt; 0 (memory.ml <c>divide_rounding_up</c>).</summary>
    public static long DivideRoundingUp(long numerator, long denominator) => (numerator + denominator - 1) / denominator;

    /// <summary>"used" conversions round up (§5.1).</summary>
    public static long MibOfBytesUsed(long bytes) => DivideRoundingUp(bytes, BytesPerMib);

    public static long KibOfBytesUsed(long bytes) => DivideRoundingUp(bytes, BytesPerKib);

    public static long MibOfKibUsed(long kib) => DivideRoundingUp(kib, KibPerMib);

    public static long MibOfPagesUsed(long pages) => DivideRoundingUp(pages, PagesPerMib);

    /// <summary>"free" conversions round down (§5.1).</summary>
    public static long MibOfBytesFree(long bytes) => bytes / BytesPerMib;

    public static long MibOfPagesFree(long pages) => pages / PagesPerMib;

    public static long BytesOfMib(long mib) => mib * BytesPerMib;

    /// <summary>
    /// §5.2 shadow_mib = max(1, ⌊⌈(256·vcpus + static_max_mib + static_max_mib) / 256⌉ × multiplier⌋):
    /// 1 MiB per vCPU plus one p2m page and one shadow page per MiB of static_max, rounded up to whole
    /// MiB, times the multiplier, truncated as OCaml's <c>Int64.of_float</c> does; never below 1 MiB.
    /// </summary>
    public static long ShadowMib(long staticMaxMib, long vcpus, double multiplier)
    {
        var totalMib = MibOfPagesUsed((PagesPerMib * vcpus) + staticMaxMib + staticMaxMib);
        return Math.Max(1, (long)(totalMib * multiplier));
    }

    /// <summary>
    /// §5.2 overhead_mib = extra_internal + extra_external + shadow_mib + ⌈38·vcpus / 256⌉ + shim, with
    /// the model of the domain type: HVM data for hvm and pvh (1 + 1 MiB, no shim), Linux for pv
    /// (0 + 1 MiB), PVinPVH for pv_in_pvh (1 + 1 MiB, shim 23 + ⌊static_max_mib / 90⌋ MiB).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">domain type unspecified (xapi refuses it here; resolve it first).</exception>
    public static long OverheadMib(long staticMaxMib, long vcpus, double multiplier, DomainType domainType)
    {
        var (extraInternal, extraExternal, shim) = domainType switch
        {
            DomainType.Hvm or DomainType.Pvh => (1L, 1L, 0L),
            DomainType.Pv => (0L, 1L, 0L),
            DomainType.PvInPvh => (1L, 1L, 23L + (staticMaxMib / 90)),
            _ => throw new ArgumentOutOfRangeException(nameof(domainType), domainType, "the memory model needs a specified domain type (§3.1 step 5)"),
        };
        return extraInternal + extraExternal + ShadowMib(staticMaxMib, vcpus, multiplier)
            + MibOfPagesUsed(XenPagesPerVcpu * vcpus) + shim;
    }

    /// <summary>
    /// §5.2 <c>vm_compute_memory_overhead</c> in bytes: static_max as MiB rounded up, VCPUs_max, the
    /// VM's own HVM_shadow_multiplier (for every domain type). Worked example: hvm, 4096 MiB, 2 vCPUs,
    /// ×1.0 → 1 + 1 + 34 + 1 = 37 MiB.
    /// </summary>
    public static long OverheadBytes(long staticMaxBytes, long vcpusMax, double shadowMultiplier, DomainType domainType) =>
        BytesOfMib(OverheadMib(MibOfBytesUsed(staticMaxBytes), vcpusMax, shadowMultiplier, domainType));

    /// <summary>§5.2 for a VM (an unspecified domain type is first derived from HVM_boot_policy, §3.1 step 5).</summary>
    public static long OverheadBytes(Vm vm) =>
        OverheadBytes(vm.MemoryStaticMax, vm.VcpusMax, vm.HvmShadowMultiplier, vm.DomainType.Resolve(vm.HvmBootPolicy));

    /// <summary>
    /// §5.3 <c>vm_compute_start_memory</c>: target = dynamic_min (hvm, pv, pvh) or static_max (pv_in_pvh),
    /// bytes → KiB → MiB rounded up; footprint = target + overhead MiB; shadow = shadow_mib; the split
    /// is (footprint − shadow, shadow) in bytes. For pv the shadow multiplier is forced to 1.0 here, so
    /// both the shadow part and the overhead inside the footprint use 1.0 (they may then differ from the
    /// stored VM.memory_overhead, which uses the VM's own multiplier). Example: hvm, dynamic_min 2048 MiB,
    /// static_max 4096 MiB, 2 vCPUs, ×1.0 → 2048 + 37 = 2085 MiB.
    /// </summary>
    public static StartMemory StartMemoryOf(Vm vm)
    {
        var domainType = vm.DomainType.Resolve(vm.HvmBootPolicy);
        var target = domainType is DomainType.PvInPvh ? vm.MemoryStaticMax : vm.MemoryDynamicMin;
        var targetMib = MibOfKibUsed(KibOfBytesUsed(target));
        var staticMaxMib = MibOfBytesUsed(vm.MemoryStaticMax);
        var multiplier = domainType is DomainType.Pv ? 1.0 : vm.HvmShadowMultiplier;
        var footprintMib = targetMib + OverheadMib(staticMaxMib, vm.VcpusMax, multiplier, domainType);
        var shadowMib = ShadowMib(staticMaxMib, vm.VcpusMax, multiplier);
        return new StartMemory(BytesOfMib(footprintMib - shadowMib), BytesOfMib(shadowMib));
    }

    /// <summary>
    /// §5.5 xenopsd <c>VM.create_exn</c> for a fresh start: the range reserved from squeezed,
    /// [dynamic_min + overhead, dynamic_max + overhead], each rounded up to whole KiB, in bytes.
    /// </summary>
    public static (long Min, long Max) ReservationBytes(long dynamicMin, long dynamicMax, long overhead) =>
        (KibOfBytesUsed(dynamicMin + overhead) * BytesPerKib, KibOfBytesUsed(dynamicMax + overhead) * BytesPerKib);

    /// <summary>§5.3: bytes a host must have free to start the VM (normal + shadow).</summary>
    public static long StartMemoryRequired(Vm vm) => StartMemoryOf(vm).RequiredBytes;

    /// <summary>
    /// What the VM charges against a host once scheduled or resident (§5.4): its dynamic_min, dynamic_max,
    /// static_max and stored memory_overhead; <see cref="MemoryCharge.Used"/> = dynamic_min + overhead.
    /// </summary>
    public static MemoryCharge Charge(Vm vm) =>
        new(vm.MemoryDynamicMin, vm.MemoryDynamicMax, vm.MemoryStaticMax, vm.MemoryOverhead);
}
