/*
 * A minimal 64-bit "kernel" for fast VMM tests. Entered in long mode as
 * Linux is (RSI = zero page), it prints the command line the VMM passed
 * (boot_params.hdr.cmd_line_ptr, zero page + 0x228) on the 8250, then acts
 * on the command line's first character:
 *   '0'..'9'  write that number to the debug-exit port
 *   'r'       reset through the i8042 (what reboot=k does)
 *   't'       triple fault (load an empty IDT, then fault)
 *   'h'       halt forever with interrupts off
 *   's'       print 's' on the console forever
 */
	.code64
	.section .text
	.globl _start
_start:
	mov	0x228(%rsi), %ebx	/* cmd_line_ptr */
	mov	$0x3f8, %dx
1:	movb	(%rbx), %al
	test	%al, %al
	jz	2f
	outb	%al, %dx
	inc	%rbx
	jmp	1b
2:	movb	$'\n', %al
	outb	%al, %dx
	mov	0x228(%rsi), %ebx
	movb	(%rbx), %al
	cmpb	$'t', %al
	je	3f
	cmpb	$'r', %al
	je	4f
	cmpb	$'h', %al
	je	5f
	cmpb	$'s', %al
	je	6f
	sub	$'0', %al
	mov	$0x501, %dx
	outb	%al, %dx
	hlt
3:	lidt	null_idt(%rip)		/* no IDT: the next fault triple-faults */
	ud2
4:	mov	$0x64, %dx		/* i8042 reset, as reboot=k does */
	movb	$0xfe, %al
	outb	%al, %dx
	hlt
5:	cli
	hlt
	jmp	5b
6:	mov	$0x3f8, %dx
	outb	%al, %dx
	jmp	6b

	.section .rodata
null_idt:
	.word	0
	.quad	0
