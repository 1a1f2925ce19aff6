using System.Collections.Immutable;
using Shouldly;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Vms;

public class StartPolicyTests
{
    [Fact]
    public void Ordinary_vm_passes_the_start_policy()
    {
        StartPolicy.Check(A.Vm(vcpusMax: 63, memory: 16.MiB(), vbdDevices: ["0", "1", "xvdc", "hdd"])).ShouldBeNull();
    }

    [Fact]
    public void Vm_without_vcpus_fails_with_vm_no_vcpus()
    {
        var vm = A.Vm(vcpusMax: 0);
        StartPolicy.Check(vm).ShouldBeError(ErrorCodes.VmNoVcpus, vm.Id.ToString());
    }

    [Fact]
    public void Vm_with_64_vcpus_fails_with_vm_too_many_vcpus()
    {
        var vm = A.Vm(vcpusMax: 64);
        StartPolicy.Check(vm).ShouldBeError(ErrorCodes.VmTooManyVcpus, vm.Id.ToString());
    }

    [Fact]
    public void Vm_below_16_mib_fails_with_vm_memory_size_too_low()
    {
        var vm = A.Vm(memory: 16.MiB() - 1);
        StartPolicy.Check(vm).ShouldBeError(ErrorCodes.VmMemorySizeTooLow, vm.Id.ToString());
    }

    [Theory]
    [InlineData("0", "xvda", "xvda")]
    [InlineData("1", "hdb", "xvdb")]
    [InlineData("sdc", "2", "xvdc")]
    [InlineData("3", "3", "xvdd")]
    public void Two_vbds_on_one_position_fail_with_vm_duplicate_vbd_device(string first, string second, string device)
    {
        var (a, b) = (Guid.Parse("00000000-0000-0000-0000-00000000000a"), Guid.Parse("00000000-0000-0000-0000-00000000000b"));
        var vm = A.Vm() with { Vbds = ImmutableDictionary<Guid, string>.Empty.Add(b, second).Add(a, first) };
        StartPolicy.Check(vm).ShouldBeError(ErrorCodes.VmDuplicateVbdDevice, vm.Id.ToString(), b.ToString(), device);
    }

    [Fact]
    public void Vcpu_check_comes_before_the_memory_check()
    {
        var vm = A.Vm(vcpusMax: 0, memory: 1.MiB());
        StartPolicy.Check(vm)!.Code.ShouldBe(ErrorCodes.VmNoVcpus);
    }
}
