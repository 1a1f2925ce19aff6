// Temporary: replaced by the real modules when the domain branch is merged (then this file is deleted).
namespace Xapi.Cqrs.Domain.Vms
{
    public static class VmLifecycle
    {
        public static IReadOnlyList<VmOperation> AllowedOperations(Vm vm) => [];
    }
}

namespace Xapi.Cqrs.Domain.Memory
{
    public static class MemoryModel
    {
        public static long OverheadBytes(long staticMaxBytes, long vcpusMax, double shadowMultiplier, Vms.DomainType type) => 0;
    }
}
